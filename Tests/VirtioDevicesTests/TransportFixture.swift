import DeviceModel
import DeviceModelTesting
import Virtio
import VirtioTesting

/// A ``SimulatedMachine`` with a ``LoopbackDevice`` behind one transport (a
/// ``SimulatedTransportAttachment``), and a ``VirtioTestDriver`` talking to it through
/// registers only. It covers more driver interfaces than ``DeviceOnTransport``.
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
        var isPCI: Bool { transport.isPCI }
        /// The driver uses a legacy interface (no VERSION_1, legacy ring layout).
        var isLegacyDriver: Bool { transport.isLegacyDriver }
        var usesMSIX: Bool { transport.usesMSIX }
        /// The transport and driver interface this kind stands for.
        var transport: SimulatedVirtioTransport {
            switch self {
            case .mmio: .mmio(legacy: false)
            case .mmioLegacy: .mmio(legacy: true)
            case .pci: .pci(transitional: false, interface: .modern, interrupts: .msix)
            case .pciINTx: .pci(transitional: false, interface: .modern, interrupts: .intx)
            case .pciTransitional: .pci(transitional: true, interface: .modern, interrupts: .msix)
            case .pciLegacy: .pci(transitional: true, interface: .legacy, interrupts: .intx)
            case .pciLegacyMSIX: .pci(transitional: true, interface: .legacy, interrupts: .msix)
            }
        }
    }

    typealias Attachment = SimulatedTransportAttachment<LoopbackDevice>
    static let ramSize: UInt64 = 16 << 20
    static var mmioBase: UInt64 { Attachment.mmioBase }
    static var gsi: UInt32 { Attachment.mmioGSI }
    static var pciSlot: UInt8 { Attachment.pciSlot }
    static var pciGSI: UInt32 { Attachment.pciGSI }

    let kind: Kind
    let machine: SimulatedMachine
    let attachment: Attachment
    /// The wired interrupt (virtio-mmio, PCI INTx).
    var line: RecordingInterruptLine { attachment.line }
    let device: LoopbackDevice
    let driver: VirtioTestDriver
    var mmio: VirtioMMIOTransport<LoopbackDevice>? { attachment.mmio }
    var pci: VirtioPCITransport<LoopbackDevice>? { attachment.pci }
    var bus: PCIBus? { attachment.bus }

    init(_ kind: Kind, device: LoopbackDevice? = nil) throws {
        self.kind = kind
        machine = try SimulatedMachine(ram: [(0, Self.ramSize)])
        let device = try device ?? LoopbackDevice()
        self.device = device
        attachment = try Attachment(kind.transport, device: device, machine: machine)
        driver = try VirtioTestDriver(machine: machine, transport: attachment.driverTransport, line: attachment.line)
    }

    deinit {
        // Break the activation's reference cycle and stop the device's thread.
        attachment.detach()
        device.reset()
    }

    /// Host-side view of the device status.
    var status: VirtioDeviceStatus { attachment.status }
    var needsResetReason: VirtioTransportError? { attachment.needsResetReason }

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
