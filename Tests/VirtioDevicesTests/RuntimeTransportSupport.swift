import DeviceModel
import DeviceModelTesting
import VirtioDevices

/// One of this package's devices behind a real transport on a ``SimulatedMachine``, driven
/// by ``VirtioTestDriver`` through registers only, as Linux would.
final class DeviceOnTransport<Device: VirtioDevice> {
    enum Kind: String, CaseIterable, CustomStringConvertible, Sendable {
        case mmio, mmioLegacy, pciMSIX, pciINTx, pciLegacy
        var description: String { rawValue }
        var isPCI: Bool { self != .mmio && self != .mmioLegacy }
        var isLegacyDriver: Bool { self == .mmioLegacy || self == .pciLegacy }
    }

    static var ramSize: UInt64 { 16 << 20 }
    static var mmioBase: UInt64 { 0xD000_0000 }
    static var pciSlot: UInt8 { 3 }

    let kind: Kind
    let device: Device
    let machine: SimulatedMachine
    let line: RecordingInterruptLine
    let driver: VirtioTestDriver
    private let mmio: VirtioMMIOTransport<Device>?
    private let pci: VirtioPCITransport<Device>?
    private let bus: PCIBus?
    private let statusReader: () -> VirtioDeviceStatus

    init(_ kind: Kind, device: Device) throws {
        self.kind = kind
        self.device = device
        machine = try SimulatedMachine(ram: [(0, Self.ramSize)])
        // virtio-mmio on GSI 5; PCI slot 3 INTA swizzles to GSI 19.
        line = try machine.interruptLine(gsi: kind.isPCI ? 19 : 5)
        let transport: any VirtioTestTransport
        if kind.isPCI {
            let t = try VirtioPCITransport(device: device, memory: machine.memory, msi: machine.msi, ioEvents: machine.ioEvents,
                                           options: .init(mode: kind == .pciLegacy ? .transitional : .modern))
            let bus = try PCIBus(dispatcher: machine.dispatcher, interruptLines: machine.interruptLines)
            try bus.attach(t, device: Self.pciSlot)
            mmio = nil
            pci = t
            self.bus = bus
            statusReader = { t.status }
            transport = try VirtioPCITestTransport(machine: machine, device: Self.pciSlot,
                                                   interface: kind == .pciLegacy ? .legacy : .modern,
                                                   interruptMode: kind == .pciMSIX ? .msix : .intx)
        } else {
            let t = try VirtioMMIOTransport(device: device, memory: machine.memory, interrupt: line,
                                            options: .init(version: kind == .mmio ? .modern : .legacy))
            try t.register(in: machine.dispatcher.memory, at: Self.mmioBase, ioEvents: machine.ioEvents)
            mmio = t
            pci = nil
            bus = nil
            statusReader = { t.status }
            transport = try VirtioMMIOTestTransport(machine: machine, base: Self.mmioBase)
        }
        driver = try VirtioTestDriver(machine: machine, transport: transport, line: line)
    }

    deinit {
        mmio?.unregister()
        device.reset()
    }

    /// The device status as the transport holds it.
    var status: VirtioDeviceStatus { statusReader() }

    /// Why the transport set DEVICE_NEEDS_RESET, until the next reset.
    var needsResetReason: VirtioTransportError? { mmio?.needsResetReason ?? pci?.needsResetReason }

    /// What a driver of this kind accepts from `offered`: everything, minus VERSION_1 for a
    /// legacy interface.
    func acceptable(_ offered: UInt64) -> UInt64 {
        kind.isLegacyDriver ? offered & ~VirtioFeature.version1 & 0xFFFF_FFFF : offered
    }

    /// Reset, feature negotiation (FEATURES_OK re-read), queue setup, DRIVER_OK.
    @discardableResult
    func start(queues: [Int], features: UInt64? = nil, size: UInt16? = nil) throws -> [VirtioTestQueue] {
        try driver.start(features: features ?? acceptable(device.offeredFeatures), queues: queues, size: size)
    }
}
