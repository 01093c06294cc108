/// Settings for a ``VirtioBlockDevice`` backed by a raw image, in the spirit of
/// Virtualization.framework's attachment types: a plain value, validated when the device
/// is created.
public struct VirtioBlockConfiguration: Sendable, Hashable {
    /// The raw image (a regular file or a block device).
    public var path: String
    /// Open read-only and offer `VIRTIO_BLK_F_RO`: writes fail with `VIRTIO_BLK_S_IOERR`.
    public var readOnly: Bool
    /// The `VIRTIO_BLK_T_GET_ID` string: printable ASCII, at most 20 bytes.
    public var serial: String?
    /// Request queues wanted (`num_queues` with `VIRTIO_BLK_F_MQ`).
    public var queues: Int
    /// The guest's vCPU count, if known: queues beyond it bring nothing, so `num_queues`
    /// is bounded by it (as Linux's and QEMU's defaults are).
    public var vcpus: Int?
    /// Maximum size of each request queue (power of two); `seg_max` is this minus 2.
    public var queueSize: UInt16
    /// Logical block size reported in `blk_size` (power of two, 512...65536).
    public var logicalBlockSize: UInt32
    /// Physical block size for `topology` (power-of-two multiple of the logical size).
    public var physicalBlockSize: UInt32
    /// Offer `VIRTIO_BLK_F_DISCARD` (hole punching) on writable images.
    public var discard: Bool
    /// Offer `VIRTIO_BLK_F_WRITE_ZEROES` on writable images.
    public var writeZeroes: Bool
    /// Worker threads doing the file I/O.
    public var ioThreads: Int

    public init(path: String, readOnly: Bool = false, serial: String? = nil, queues: Int = 1, vcpus: Int? = nil,
                queueSize: UInt16 = 256, logicalBlockSize: UInt32 = 512, physicalBlockSize: UInt32? = nil,
                discard: Bool = true, writeZeroes: Bool = true, ioThreads: Int = 2) {
        self.path = path
        self.readOnly = readOnly
        self.serial = serial
        self.queues = queues
        self.vcpus = vcpus
        self.queueSize = queueSize
        self.logicalBlockSize = logicalBlockSize
        self.physicalBlockSize = physicalBlockSize ?? logicalBlockSize
        self.discard = discard
        self.writeZeroes = writeZeroes
        self.ioThreads = ioThreads
    }

    /// The number of request queues the device exposes: `queues`, bounded by `vcpus`.
    public var effectiveQueues: Int { max(1, min(queues, vcpus ?? queues)) }

    /// Checks every field; throws the first problem with its value.
    public func validate() throws(VirtioBlockError) {
        guard (1...VirtioBlockDevice.maximumQueues).contains(queues) else { throw .invalidConfiguration("queues \(queues) not in 1...\(VirtioBlockDevice.maximumQueues)") }
        if let vcpus, vcpus < 1 { throw .invalidConfiguration("vcpus \(vcpus) must be at least 1") }
        guard queueSize >= 4, queueSize <= 32768, queueSize & (queueSize - 1) == 0 else {
            throw .invalidConfiguration("queue size \(queueSize) is not a power of two in 4...32768")
        }
        guard logicalBlockSize >= 512, logicalBlockSize <= 65536, logicalBlockSize & (logicalBlockSize - 1) == 0 else {
            throw .invalidConfiguration("logical block size \(logicalBlockSize) is not a power of two in 512...65536")
        }
        guard physicalBlockSize >= logicalBlockSize, physicalBlockSize & (physicalBlockSize - 1) == 0,
              physicalBlockSize / logicalBlockSize <= 1 << 15 else {
            throw .invalidConfiguration("physical block size \(physicalBlockSize) is not a power-of-two multiple of \(logicalBlockSize)")
        }
        guard (1...64).contains(ioThreads) else { throw .invalidConfiguration("I/O threads \(ioThreads) not in 1...64") }
        if let serial {
            guard serial.utf8.count <= BlockLayout.idBytes, serial.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
                throw .invalidSerial(serial)
            }
        }
    }
}

/// Errors of the virtio-blk device and its backends.
public enum VirtioBlockError: Error, Equatable, CustomStringConvertible {
    /// A configuration field is out of range.
    case invalidConfiguration(String)
    /// The serial is longer than 20 bytes or not printable ASCII.
    case invalidSerial(String)
    /// The image could not be opened.
    case open(path: String, errno: Int32)
    /// The image is not a regular file or block device.
    case unsupportedImage(path: String)
    /// Another process holds a conflicting lock on the image.
    case imageLocked(path: String)
    /// A host I/O call failed (the request then completes with `VIRTIO_BLK_S_IOERR`).
    case io(operation: String, offset: UInt64, errno: Int32)
    /// The device's threads could not start.
    case runtime(VirtioDeviceError)

    public var description: String {
        switch self {
        case .invalidConfiguration(let m): "virtio-blk configuration: \(m)"
        case .invalidSerial(let s): "virtio-blk serial \"\(s)\" must be at most 20 bytes of printable ASCII"
        case .open(let p, let e): "cannot open image \(p): errno \(e)"
        case .unsupportedImage(let p): "image \(p) is neither a regular file nor a block device"
        case .imageLocked(let p): "image \(p) is locked by another process"
        case .io(let op, let off, let e): "\(op) at offset \(off) failed: errno \(e)"
        case .runtime(let e): "virtio-blk: \(e)"
        }
    }
}
