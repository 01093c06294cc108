import HostIO
import Virtio

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
    /// Worker threads doing the file I/O (the thread-pool engine).
    public var ioThreads: Int
    /// I/O threads serving the request queues (QEMU's IOThreads): queue `i` runs on thread
    /// `i % queueThreads`, so with as many threads as queues each queue has its own. More
    /// threads than queues are not started.
    public var queueThreads = 1
    /// The I/O engine (`aio=`); `nil` picks inline for an image in memory, io_uring where
    /// the host has it, and the thread pool otherwise (with one warning per process).
    public var aio: BlockIOEngine?
    /// The longest a queue's thread polls its avail ring after a pass before sleeping on the
    /// kick (QEMU's `poll-max-ns`; adaptive, see ``AvailRingPolling``); `.zero`, the
    /// default, never polls.
    public var pollLimit: Duration = .zero
    /// Whether the image is locked when it is opened (the default) or only by
    /// ``VirtioBlockDevice/lockImage()``: an incoming migration's device model opens the image
    /// while the sending one, on the same host, still holds its lock.
    public var locksImageAtOpen = true
    /// Host page cache use (`cache=`): ``BlockCacheMode/writeback`` (buffered, the default)
    /// or ``BlockCacheMode/none`` (`O_DIRECT` where the file system allows it).
    public var cache: BlockCacheMode

    public init(path: String, readOnly: Bool = false, serial: String? = nil, queues: Int = 1, vcpus: Int? = nil,
                queueSize: UInt16 = 256, logicalBlockSize: UInt32 = 512, physicalBlockSize: UInt32? = nil,
                discard: Bool = true, writeZeroes: Bool = true, ioThreads: Int = 2,
                aio: BlockIOEngine? = nil, cache: BlockCacheMode = .writeback) {
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
        self.aio = aio
        self.cache = cache
    }

    /// The number of request queues the device exposes: `queues`, bounded by `vcpus`.
    public var effectiveQueues: Int { max(1, min(queues, vcpus ?? queues)) }

    /// The I/O threads the device starts: ``queueThreads``, but no more than it has queues.
    public var effectiveQueueThreads: Int { max(1, min(queueThreads, effectiveQueues)) }

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
        guard (1...VirtqueueService.maximumQueueThreads).contains(queueThreads) else {
            throw .invalidConfiguration("queue threads \(queueThreads) not in 1...\(VirtqueueService.maximumQueueThreads)")
        }
        guard pollLimit >= .zero, pollLimit <= AvailRingPolling.maximumLimit else {
            throw .invalidConfiguration("poll limit \(pollLimit) not in 0...\(AvailRingPolling.maximumLimit)")
        }
        if let serial {
            guard serial.utf8.count <= BlockLayout.idBytes, serial.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
                throw .invalidSerial(serial)
            }
        }
    }
}
