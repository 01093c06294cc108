import VirtioDevices

/// What the frontend learnt about the virtio-blk device: `struct virtio_blk_config` (virtio
/// 1.2 §5.2.4) read with `GET_CONFIG`, interpreted through the negotiated features.
public struct BlockDeviceInfo: Sendable, Equatable {
    /// Bytes of configuration space read: up to and including `num_queues`.
    static let configBytes = 36

    /// Capacity in 512-byte sectors.
    public var capacitySectors: UInt64
    /// The logical block size (`blk_size`; 512 without `VIRTIO_BLK_F_BLK_SIZE`).
    public var blockSize: UInt32
    /// The largest segment (`size_max`), or `nil` without `VIRTIO_BLK_F_SIZE_MAX` (or when 0).
    public var sizeMax: UInt32?
    /// The most data segments per request (`seg_max`), or `nil` without `VIRTIO_BLK_F_SEG_MAX` (or when 0).
    public var segMax: UInt32?
    /// Request queues (`num_queues`; 1 without `VIRTIO_BLK_F_MQ`).
    public var queues: Int

    /// Capacity in bytes.
    public var capacityBytes: UInt64 { capacitySectors &* 512 }

    /// Decodes `config` (little-endian) given the features the frontend acked.
    public init(config: [UInt8], features: UInt64) {
        func u(_ offset: Int, _ width: Int) -> UInt64 {
            var v: UInt64 = 0
            for i in 0..<width where offset + i < config.count { v |= UInt64(config[offset + i]) << (8 * UInt64(i)) }
            return v
        }
        capacitySectors = u(0, 8)
        // A zero limit is read as no limit: qemu-storage-daemon offers SIZE_MAX with size_max 0.
        let sizeMax = UInt32(truncatingIfNeeded: u(8, 4)), segMax = UInt32(truncatingIfNeeded: u(12, 4))
        self.sizeMax = features & VirtioBlockFeature.sizeMax != 0 && sizeMax > 0 ? sizeMax : nil
        self.segMax = features & VirtioBlockFeature.segMax != 0 && segMax > 0 ? segMax : nil
        let size = features & VirtioBlockFeature.blockSize != 0 ? UInt32(u(20, 4)) : 512
        blockSize = size == 0 ? 512 : size
        queues = features & VirtioBlockFeature.multiQueue != 0 ? max(Int(u(34, 2)), 1) : 1
    }

    /// A device description for tests and reports.
    public init(capacitySectors: UInt64, blockSize: UInt32, sizeMax: UInt32?, segMax: UInt32?, queues: Int) {
        self.capacitySectors = capacitySectors
        self.blockSize = blockSize
        self.sizeMax = sizeMax
        self.segMax = segMax
        self.queues = queues
    }
}
