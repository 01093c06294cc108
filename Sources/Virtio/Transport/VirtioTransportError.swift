import DeviceModel

/// Errors of the virtio transports (virtio-mmio, virtio-pci).
///
/// Setting a transport up can fail with ``notifier(_:)``, ``registration(_:)`` or
/// ``ioEvent(_:)``. The remaining cases are driver faults: the transport never throws them
/// at the guest; it sets `DEVICE_NEEDS_RESET` (virtio 1.2 §2.1.2) and keeps the reason in
/// `needsResetReason` for diagnostics and tests.
public enum VirtioTransportError: Error, Equatable, CustomStringConvertible {
    /// Creating a queue's kick notifier failed.
    case notifier(EventNotifierError)
    /// Mapping the transport's registers into an address space failed.
    case registration(AddressSpaceError)
    /// Registering a queue-notify ioeventfd failed.
    case ioEvent(IOEventError)
    /// The transport is already registered in an address space.
    case alreadyRegistered(base: UInt64)
    /// Building the PCI function (BARs, capabilities, MSI-X) failed.
    case pci(PCIError)
    /// A transitional virtio-pci device needs a legacy device ID, which only the device
    /// types of virtio 0.9.5 have (§4.1.2.3).
    case noTransitionalDeviceID(VirtioDeviceType)
    /// Modern PCI device IDs end at 0x107F (§4.1.2.1: 0x1040 + ID), so device IDs above 63
    /// cannot be virtio-pci devices.
    case pciDeviceIDOutOfRange(VirtioDeviceType)

    /// The driver set `DRIVER_OK` without a successful `FEATURES_OK` on a modern interface
    /// (§3.1.1 step 8 comes after step 5).
    case driverOKWithoutFeaturesOK(status: UInt8)
    /// A queue size above the device's maximum (or above 16 bits).
    case queueSizeOutOfRange(queue: Int, size: UInt32, maximum: UInt16)
    /// Legacy page size or ring alignment that is zero or not a power of two (§4.2.4).
    case invalidLegacyGeometry(queue: Int, pageSize: UInt32, alignment: UInt32)
    /// A ring failed validation at `DRIVER_OK`, the device refused activation, or the
    /// running device reported a driver error.
    case device(VirtioDeviceError)

    public var description: String {
        switch self {
        case .notifier(let e): "queue notifier: \(e)"
        case .registration(let e): "register mapping: \(e)"
        case .ioEvent(let e): "queue notify ioeventfd: \(e)"
        case .alreadyRegistered(let base): "transport is already registered at 0x\(String(base, radix: 16))"
        case .pci(let e): "virtio-pci function: \(e)"
        case .noTransitionalDeviceID(let t): "device type \(t) has no legacy (transitional) PCI device ID"
        case .pciDeviceIDOutOfRange(let t): "device type \(t) does not fit the virtio-pci device ID range 0x1040-0x107f"
        case .driverOKWithoutFeaturesOK(let s):
            "DRIVER_OK written without FEATURES_OK (status 0x\(String(s, radix: 16)))"
        case .queueSizeOutOfRange(let q, let s, let m): "queue \(q): size \(s) exceeds the maximum \(m)"
        case .invalidLegacyGeometry(let q, let p, let a):
            "queue \(q): legacy page size \(p) / alignment \(a) is not a non-zero power of two"
        case .device(let e): "\(e)"
        }
    }
}
