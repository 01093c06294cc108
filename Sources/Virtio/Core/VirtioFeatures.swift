/// Feature bits shared by all device types (virtio 1.2 §6 "Reserved Feature Bits").
public enum VirtioFeature {
    /// `VIRTIO_F_INDIRECT_DESC` (28): descriptors may point at indirect tables (§2.7.5.3).
    public static let indirectDescriptors: UInt64 = 1 << 28
    /// `VIRTIO_F_EVENT_IDX` (29): `used_event`/`avail_event` suppression (§2.7.7, §2.7.10).
    public static let eventIndex: UInt64 = 1 << 29
    /// `VIRTIO_F_VERSION_1` (32): a modern (non-legacy) device.
    public static let version1: UInt64 = 1 << 32
    /// `VIRTIO_F_ACCESS_PLATFORM` (33).
    public static let accessPlatform: UInt64 = 1 << 33
    /// `VIRTIO_F_RING_PACKED` (34).
    public static let ringPacked: UInt64 = 1 << 34
    /// `VIRTIO_F_IN_ORDER` (35).
    public static let inOrder: UInt64 = 1 << 35
    /// `VIRTIO_F_ORDER_PLATFORM` (36).
    public static let orderPlatform: UInt64 = 1 << 36
    /// `VIRTIO_F_SR_IOV` (37).
    public static let srIOV: UInt64 = 1 << 37
    /// `VIRTIO_F_NOTIFICATION_DATA` (38).
    public static let notificationData: UInt64 = 1 << 38
    /// `VIRTIO_F_RING_RESET` (40): individual queues can be reset (§2.6.1).
    public static let ringReset: UInt64 = 1 << 40
}

/// Device status bits (virtio 1.2 §2.1).
public struct VirtioDeviceStatus: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let acknowledge = VirtioDeviceStatus(rawValue: 1)
    public static let driver = VirtioDeviceStatus(rawValue: 2)
    public static let driverOK = VirtioDeviceStatus(rawValue: 4)
    public static let featuresOK = VirtioDeviceStatus(rawValue: 8)
    public static let deviceNeedsReset = VirtioDeviceStatus(rawValue: 64)
    public static let failed = VirtioDeviceStatus(rawValue: 128)
}

/// A virtio device ID (virtio 1.2 §5).
///
/// A struct rather than an enum so that devices outside this package can use IDs this file
/// does not list, such as the experimental range 0xB0...0xBF (PCI device IDs 0x10F0...0x10FF,
/// "available for experimental usage without registration" in QEMU's `docs/specs/pci-ids`).
/// Those serve on virtio-mmio and vhost-user; ``VirtioPCITransport`` refuses them, since a
/// virtio-pci device ID ends at 0x107F (§4.1.2.1) and Linux's virtio_pci binds no other.
public struct VirtioDeviceType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let network = VirtioDeviceType(rawValue: 1)
    public static let block = VirtioDeviceType(rawValue: 2)
    public static let console = VirtioDeviceType(rawValue: 3)
    public static let entropy = VirtioDeviceType(rawValue: 4)
    public static let balloon = VirtioDeviceType(rawValue: 5)
    public static let scsi = VirtioDeviceType(rawValue: 8)
    public static let nineP = VirtioDeviceType(rawValue: 9)
    public static let gpu = VirtioDeviceType(rawValue: 16)
    public static let input = VirtioDeviceType(rawValue: 18)
    public static let vsock = VirtioDeviceType(rawValue: 19)
    public static let fs = VirtioDeviceType(rawValue: 26)

    /// The IDs free for experiments without registration (0xB0...0xBF).
    public static let experimentalRange: ClosedRange<UInt32> = 0xB0...0xBF

    public var description: String { "virtio device type \(rawValue)" }
}
