import DeviceModel
import DeviceModelTesting
import VirtioDevices

/// A ``SimulatedMachine`` with a ``LoopbackDevice`` behind one transport, and a
/// ``VirtioTestDriver`` talking to it through registers only.
final class TransportFixture {
    enum Kind: String, CaseIterable, CustomStringConvertible, Sendable {
        case mmio
        case mmioLegacy
        var description: String { rawValue }
    }

    static let ramSize: UInt64 = 16 << 20
    static let mmioBase: UInt64 = 0xD000_0000
    static let gsi: UInt32 = 5

    let kind: Kind
    let machine: SimulatedMachine
    /// The wired interrupt (virtio-mmio, PCI INTx).
    let line: RecordingInterruptLine
    let device: LoopbackDevice
    let driver: VirtioTestDriver
    let mmio: VirtioMMIOTransport<LoopbackDevice>?
    private let statusReader: () -> VirtioDeviceStatus
    private let reasonReader: () -> VirtioTransportError?

    init(_ kind: Kind, device: LoopbackDevice? = nil) throws {
        self.kind = kind
        machine = try SimulatedMachine(ram: [(0, Self.ramSize)])
        line = try machine.interruptLine(gsi: Self.gsi)
        let device = try device ?? LoopbackDevice()
        self.device = device
        let transport: any VirtioTestTransport
        switch kind {
        case .mmio, .mmioLegacy:
            let t = try VirtioMMIOTransport(device: device, memory: machine.memory, interrupt: line,
                                            options: .init(version: kind == .mmio ? .modern : .legacy))
            try t.register(in: machine.dispatcher.memory, at: Self.mmioBase, ioEvents: machine.ioEvents)
            mmio = t
            statusReader = { t.status }
            reasonReader = { t.needsResetReason }
            transport = try VirtioMMIOTestTransport(machine: machine, base: Self.mmioBase)
        }
        driver = try VirtioTestDriver(machine: machine, transport: transport, line: line)
    }

    deinit {
        // Break the activation's reference cycle and stop the device's thread.
        mmio?.unregister()
        device.reset()
    }

    /// Host-side view of the device status.
    var status: VirtioDeviceStatus { statusReader() }
    var needsResetReason: VirtioTransportError? { reasonReader() }

    /// Features a test driver asks for: everything the loopback device offers.
    var allFeatures: UInt64 {
        let f = VirtioTestSpec.Feature.version1 | VirtioTestSpec.Feature.eventIndex
            | VirtioTestSpec.Feature.indirectDescriptors | LoopbackDevice.deviceFeature
        return driver.transport.isLegacy ? f & ~VirtioTestSpec.Feature.version1 : f
    }

    /// Waits (bounded) until `condition` holds, sleeping on interrupt activity in between.
    func wait(until condition: () -> Bool) -> Bool {
        let deadline = ContinuousClock.now + .seconds(5)
        while !condition() {
            guard ContinuousClock.now < deadline else { return false }
            _ = line.levelChanges.wait(timeout: .milliseconds(2)) { _ in false }
        }
        return true
    }
}
