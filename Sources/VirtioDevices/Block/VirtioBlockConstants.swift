/// virtio-blk feature bits (virtio 1.2 §5.2.3).
public enum VirtioBlockFeature {
    /// `VIRTIO_BLK_F_SIZE_MAX`: `size_max` is the largest segment.
    public static let sizeMax: UInt64 = 1 << 1
    /// `VIRTIO_BLK_F_SEG_MAX`: `seg_max` is the most segments in one request.
    public static let segMax: UInt64 = 1 << 2
    /// `VIRTIO_BLK_F_GEOMETRY`.
    public static let geometry: UInt64 = 1 << 4
    /// `VIRTIO_BLK_F_RO`: the device is read-only.
    public static let readOnly: UInt64 = 1 << 5
    /// `VIRTIO_BLK_F_BLK_SIZE`: `blk_size` is valid.
    public static let blockSize: UInt64 = 1 << 6
    /// `VIRTIO_BLK_F_FLUSH`: the cache can be flushed (writeback semantics when negotiated).
    public static let flush: UInt64 = 1 << 9
    /// `VIRTIO_BLK_F_TOPOLOGY`: `topology` is valid.
    public static let topology: UInt64 = 1 << 10
    /// `VIRTIO_BLK_F_CONFIG_WCE`.
    public static let configWCE: UInt64 = 1 << 11
    /// `VIRTIO_BLK_F_MQ`: `num_queues` request queues.
    public static let multiQueue: UInt64 = 1 << 12
    /// `VIRTIO_BLK_F_DISCARD`.
    public static let discard: UInt64 = 1 << 13
    /// `VIRTIO_BLK_F_WRITE_ZEROES`.
    public static let writeZeroes: UInt64 = 1 << 14
}

/// `VIRTIO_BLK_T_*` request types (§5.2.6).
enum BlockRequestType: UInt32 {
    case read = 0
    case write = 1
    case flush = 4
    case getID = 8
    case getLifetime = 10
    case discard = 11
    case writeZeroes = 13
    case secureErase = 14
}

/// `VIRTIO_BLK_S_*` status byte values (§5.2.6).
enum BlockStatus: UInt8 {
    case ok = 0
    case ioError = 1
    case unsupported = 2
}

enum BlockLayout {
    /// Bytes in `struct virtio_blk_req`'s header: type, reserved, sector.
    static let headerSize = 16
    /// The protocol's sector size, independent of `blk_size` (§5.2.6).
    static let sectorSize: UInt64 = 512
    /// `struct virtio_blk_discard_write_zeroes`.
    static let segmentSize = 16
    /// `VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP`.
    static let unmapFlag: UInt32 = 1
    /// `VIRTIO_BLK_ID_BYTES`.
    static let idBytes = 20
}
