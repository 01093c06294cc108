import DeviceModelTesting

/// Which transport a device sits behind in a ``SimulatedTransportAttachment``, and how the
/// test driver talks to it.
public enum SimulatedVirtioTransport: Sendable, Hashable {
    /// A virtio-mmio window: version 2, or version 1 (the legacy layout) when `legacy`
    /// (virtio 1.2 §4.2.4). Interrupts on a wired line.
    case mmio(legacy: Bool)
    /// A virtio-pci function, modern-only or `transitional` (with the legacy I/O BAR too,
    /// §4.1.4.10). The driver uses `interface` (``VirtioPCITestTransport/Interface/legacy``
    /// needs a transitional device) and takes interrupts as `interrupts`.
    case pci(transitional: Bool, interface: VirtioPCITestTransport.Interface,
             interrupts: VirtioPCITestTransport.InterruptMode)

    /// True for virtio-pci.
    public var isPCI: Bool {
        if case .pci = self { return true }
        return false
    }

    /// True when the driver uses a legacy interface: no `VIRTIO_F_VERSION_1`, the legacy ring
    /// layout.
    public var isLegacyDriver: Bool {
        switch self {
        case .mmio(let legacy): legacy
        case .pci(_, let interface, _): interface == .legacy
        }
    }

    /// True when the driver takes MSI-X messages rather than a wired interrupt.
    public var usesMSIX: Bool {
        if case .pci(_, _, .msix) = self { return true }
        return false
    }
}
