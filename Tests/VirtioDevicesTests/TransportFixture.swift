import DeviceModel
import DeviceModelTesting
import VirtioDevices

/// A minimal machine for transport tests: 16 MiB of guest RAM at 0, an I/O dispatcher with
/// software ioeventfds, an interrupt recorder, a ``LoopbackDevice`` behind a transport, and
/// a ``VirtioTestDriver`` talking to it through registers only.
final class TransportFixture {
    enum Kind: String, CaseIterable, CustomStringConvertible, Sendable {
        case mmio
        case mmioLegacy
        var description: String { rawValue }
    }

    static let ramSize: UInt64 = 16 << 20
    static let mmioBase: UInt64 = 0xD000_0000

    let kind: Kind
    let memory: MappedGuestMemory
    let dispatcher = IODispatcher()
    let recorder: VirtioTestInterruptRecorder
    let device: LoopbackDevice
    let driver: VirtioTestDriver
    private let statusReader: () -> VirtioDeviceStatus
    private let reasonReader: () -> VirtioTransportError?
    let mmio: VirtioMMIOTransport<LoopbackDevice>?

    init(_ kind: Kind, device: LoopbackDevice? = nil) throws {
        self.kind = kind
        memory = try MappedGuestMemory.anonymous([(guestBase: 0, length: Self.ramSize)])
        recorder = try VirtioTestInterruptRecorder()
        let device = try device ?? LoopbackDevice()
        self.device = device
        let transport: any VirtioTestTransport
        switch kind {
        case .mmio, .mmioLegacy:
            let t = try VirtioMMIOTransport(device: device, memory: memory, interrupt: recorder,
                                            options: .init(version: kind == .mmio ? .modern : .legacy))
            try t.register(in: dispatcher.memory, at: Self.mmioBase, ioEvents: dispatcher.softwareIoEvents)
            mmio = t
            statusReader = { t.status }
            reasonReader = { t.needsResetReason }
            transport = try VirtioMMIOTestTransport(dispatcher: dispatcher, base: Self.mmioBase)
        }
        driver = VirtioTestDriver(transport: transport, memory: memory, arena: 0x10_0000..<0xF0_0000, interrupts: recorder)
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
}
