/// How a virtio device reaches the guest.
public enum VirtioTransportKind: String, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    /// Modern virtio-pci (virtio 1.x only, device IDs 0x1040 + type).
    case pci
    /// Transitional virtio-pci: modern plus the legacy I/O BAR, for pre-1.0 drivers.
    case pciTransitional = "pci-transitional"
    /// virtio-mmio (version 2) in one of the machine's virtio-mmio windows.
    case mmio

    public var description: String { rawValue }

    /// Parses `pci`, `pci-transitional` or `mmio`.
    public init(parsing text: String, option: String) throws(DeviceSpecError) {
        guard let t = VirtioTransportKind(rawValue: text) else {
            throw DeviceSpecError(option: option, value: text, expected: "expected pci, pci-transitional or mmio")
        }
        self = t
    }
}
