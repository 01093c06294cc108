import DeviceModel
import DeviceModelTesting
import Virtio

/// A virtio device behind a real transport on a ``SimulatedMachine``, driven by a
/// ``VirtioTestDriver`` through registers only, as Linux's virtio drivers would: the
/// driver-side mock for device authors (what rust-vmm's `virtio-queue` `mock.rs` is for its
/// devices).
///
/// ```swift
/// let f = try DeviceOnTransport(.pciMSIX, device: try MyDevice())
/// let queue = try f.start(queues: [0])[0]
/// try queue.submit(readable: [request], writable: [64])
/// try f.driver.kick(queue)
/// let completions = try f.driver.waitForUsed(queue)
/// ```
///
/// The fixture resets the device when it goes away.
public final class DeviceOnTransport<Device: VirtioDevice> {
    /// The transports and driver interfaces a device is usually tested on.
    public enum Kind: String, CaseIterable, CustomStringConvertible, Sendable {
        /// virtio-mmio version 2, wired interrupt.
        case mmio
        /// virtio-mmio version 1 (legacy layout) with a legacy driver.
        case mmioLegacy
        /// Modern virtio-pci with MSI-X.
        case pciMSIX
        /// Modern virtio-pci with INTx and the ISR.
        case pciINTx
        /// A transitional virtio-pci device driven through its legacy I/O BAR, with INTx.
        case pciLegacy

        public var description: String { rawValue }

        /// True for the virtio-pci kinds.
        public var isPCI: Bool { transport.isPCI }

        /// True when the driver uses a legacy interface (no `VIRTIO_F_VERSION_1`).
        public var isLegacyDriver: Bool { transport.isLegacyDriver }

        /// The transport and driver interface this kind stands for.
        public var transport: SimulatedVirtioTransport {
            switch self {
            case .mmio: .mmio(legacy: false)
            case .mmioLegacy: .mmio(legacy: true)
            case .pciMSIX: .pci(transitional: false, interface: .modern, interrupts: .msix)
            case .pciINTx: .pci(transitional: false, interface: .modern, interrupts: .intx)
            case .pciLegacy: .pci(transitional: true, interface: .legacy, interrupts: .intx)
            }
        }
    }

    /// Guest RAM of the simulated machine, from guest-physical 0.
    public static var ramSize: UInt64 { 16 << 20 }

    /// The transport and driver interface in use.
    public let kind: Kind
    /// The device under test.
    public let device: Device
    /// The simulated machine: guest RAM, dispatcher, recorded interrupts.
    public let machine: SimulatedMachine
    /// The wired interrupt (virtio-mmio, PCI INTx).
    public let line: RecordingInterruptLine
    /// The driver, talking to the device through the transport's registers.
    public let driver: VirtioTestDriver
    /// The transport the device sits on.
    public let attachment: SimulatedTransportAttachment<Device>

    /// Builds a machine with ``ramSize`` bytes of RAM, puts `device` on the transport `kind`
    /// names and enumerates it with a ``VirtioTestDriver``. The device is not started: see
    /// ``start(queues:features:size:)``.
    public init(_ kind: Kind, device: Device) throws(VirtioTestingError) {
        self.kind = kind
        self.device = device
        do { machine = try SimulatedMachine(ram: [(0, Self.ramSize)]) } catch { throw .machine(error) }
        attachment = try SimulatedTransportAttachment(kind.transport, device: device, machine: machine)
        line = attachment.line
        do {
            driver = try VirtioTestDriver(machine: machine, transport: attachment.driverTransport, line: line)
        } catch {
            attachment.detach()
            throw .driver(error)
        }
    }

    deinit {
        attachment.detach()
        device.reset()
    }

    /// The device status as the transport holds it (host side).
    public var status: VirtioDeviceStatus { attachment.status }

    /// Why the transport set `DEVICE_NEEDS_RESET`, until the next reset.
    public var needsResetReason: VirtioTransportError? { attachment.needsResetReason }

    /// What a driver of this kind accepts from `offered`: everything, minus
    /// `VIRTIO_F_VERSION_1` and the high feature word for a legacy interface.
    public func acceptable(_ offered: UInt64) -> UInt64 {
        kind.isLegacyDriver ? offered & ~VirtioFeature.version1 & 0xFFFF_FFFF : offered
    }

    /// Brings the device up as a driver does (virtio 1.2 §3.1.1): reset, feature negotiation
    /// (`features`, or all ``acceptable(_:)`` ones; `FEATURES_OK` re-read), the `queues` set up
    /// with `size` (or their maximum), `DRIVER_OK`. Returns the queues in `queues` order.
    @discardableResult
    public func start(queues: [Int], features: UInt64? = nil, size: UInt16? = nil) throws(VirtioTestDriverError) -> [VirtioTestQueue] {
        try driver.start(features: features ?? acceptable(device.offeredFeatures), queues: queues, size: size)
    }
}
