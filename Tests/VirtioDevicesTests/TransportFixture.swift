import DeviceModel
import DeviceModelTesting
import VirtioDevices

/// A ``SimulatedMachine`` with a ``LoopbackDevice`` behind one transport, and a
/// ``VirtioTestDriver`` talking to it through registers only.
final class TransportFixture {
    enum Kind: String, CaseIterable, CustomStringConvertible, Sendable {
        /// virtio-mmio version 2.
        case mmio
        /// virtio-mmio version 1 (legacy layout).
        case mmioLegacy
        /// Modern virtio-pci, MSI-X.
        case pci
        /// Modern virtio-pci, INTx + ISR.
        case pciINTx
        /// Transitional virtio-pci driven through the modern capabilities, MSI-X.
        case pciTransitional
        /// Transitional virtio-pci driven through the legacy I/O BAR, INTx.
        case pciLegacy
        /// Transitional virtio-pci driven through the legacy I/O BAR, MSI-X (config at 24).
        case pciLegacyMSIX

        var description: String { rawValue }
        var isPCI: Bool { self != .mmio && self != .mmioLegacy }
        /// The driver uses a legacy interface (no VERSION_1, legacy ring layout).
        var isLegacyDriver: Bool { self == .mmioLegacy || self == .pciLegacy || self == .pciLegacyMSIX }
        var usesMSIX: Bool { self == .pci || self == .pciTransitional || self == .pciLegacyMSIX }
    }

    static let ramSize: UInt64 = 16 << 20
    static let mmioBase: UInt64 = 0xD000_0000
    static let gsi: UInt32 = 5
    static let pciSlot: UInt8 = 3
    /// Slot 3, INTA: PIRQ (0 + 3) mod 4 = D → GSI 19 with the default swizzle.
    static let pciGSI: UInt32 = 19

    let kind: Kind
    let machine: SimulatedMachine
    /// The wired interrupt (virtio-mmio, PCI INTx).
    let line: RecordingInterruptLine
    let device: LoopbackDevice
    let driver: VirtioTestDriver
    let mmio: VirtioMMIOTransport<LoopbackDevice>?
    let pci: VirtioPCITransport<LoopbackDevice>?
    let bus: PCIBus?
    private let statusReader: () -> VirtioDeviceStatus
    private let reasonReader: () -> VirtioTransportError?

    init(_ kind: Kind, device: LoopbackDevice? = nil) throws {
        self.kind = kind
        machine = try SimulatedMachine(ram: [(0, Self.ramSize)])
        line = try machine.interruptLine(gsi: kind.isPCI ? Self.pciGSI : Self.gsi)
        let device = try device ?? LoopbackDevice()
        self.device = device
        let transport: any VirtioTestTransport
        switch kind {
        case .mmio, .mmioLegacy:
            let t = try VirtioMMIOTransport(device: device, memory: machine.memory, interrupt: line,
                                            options: .init(version: kind == .mmio ? .modern : .legacy))
            try t.register(in: machine.dispatcher.memory, at: Self.mmioBase, ioEvents: machine.ioEvents)
            mmio = t
            pci = nil
            bus = nil
            statusReader = { t.status }
            reasonReader = { t.needsResetReason }
            transport = try VirtioMMIOTestTransport(machine: machine, base: Self.mmioBase)
        case .pci, .pciINTx, .pciTransitional, .pciLegacy, .pciLegacyMSIX:
            let modernDevice = kind == .pci || kind == .pciINTx
            let t = try VirtioPCITransport(device: device, memory: machine.memory, msi: machine.msi,
                                           ioEvents: machine.ioEvents,
                                           options: .init(mode: modernDevice ? .modern : .transitional))
            let bus = try PCIBus(dispatcher: machine.dispatcher, interruptLines: machine.interruptLines)
            try bus.attach(t, device: Self.pciSlot)
            mmio = nil
            pci = t
            self.bus = bus
            statusReader = { t.status }
            reasonReader = { t.needsResetReason }
            transport = try VirtioPCITestTransport(machine: machine, device: Self.pciSlot,
                                                   interface: kind.isLegacyDriver ? .legacy : .modern,
                                                   interruptMode: kind.usesMSIX ? .msix : .intx)
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
        return kind.isLegacyDriver ? f & ~VirtioTestSpec.Feature.version1 : f
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
