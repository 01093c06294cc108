/// Constants a virtio driver needs (virtio 1.2 §2.1, §2.7, §6), spelled out independently of
/// the device-side `Virtio` framework so the test driver checks the device against the
/// spec rather than against itself.
public enum VirtioTestSpec {
    /// Device status bits (§2.1).
    public enum Status {
        public static let acknowledge: UInt8 = 1
        public static let driver: UInt8 = 2
        public static let driverOK: UInt8 = 4
        public static let featuresOK: UInt8 = 8
        public static let deviceNeedsReset: UInt8 = 64
        public static let failed: UInt8 = 128
    }

    /// Transport and ring feature bits (§6).
    public enum Feature {
        public static let indirectDescriptors: UInt64 = 1 << 28
        public static let eventIndex: UInt64 = 1 << 29
        public static let version1: UInt64 = 1 << 32
        public static let ringPacked: UInt64 = 1 << 34
        public static let ringReset: UInt64 = 1 << 40
    }

    /// `VIRTQ_DESC_F_*` (§2.7.5).
    public enum DescriptorFlag {
        public static let next: UInt16 = 1
        public static let write: UInt16 = 2
        public static let indirect: UInt16 = 4
    }

    /// `VIRTQ_AVAIL_F_NO_INTERRUPT` (§2.7.6).
    public static let availNoInterrupt: UInt16 = 1
    /// `VIRTQ_USED_F_NO_NOTIFY` (§2.7.8).
    public static let usedNoNotify: UInt16 = 1
    /// `VIRTIO_MSI_NO_VECTOR` (§4.1.4.3).
    public static let noVector: UInt16 = 0xFFFF
}
