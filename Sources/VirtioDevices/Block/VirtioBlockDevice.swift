import DeviceModel
import HostIO
import Logging
import Synchronization
import Virtio

/// virtio-blk (virtio 1.2 §5.2) over a ``BlockBackend``, normally a raw image
/// (``FileBlockBackend``). Requests are parsed on the device's I/O thread; reads, writes,
/// flushes, discards and zeroing go to each queue's io_uring, reaped on that same thread
/// (``BlockIOEngine/ioUring``), or run on its worker threads (``BlockIOEngine/threads``),
/// and complete asynchronously; or, for an image in memory, run on the I/O thread itself
/// (``BlockIOEngine/inline``). With several queues (`VIRTIO_BLK_F_MQ`) and
/// ``VirtioBlockConfiguration/queueThreads`` above one, the queues are spread over that many
/// I/O threads, each queue's io_uring reaped on its queue's thread.
public final class VirtioBlockDevice: VirtioDevice {
    /// Upper bound for request queues (Linux caps at the vCPU count anyway).
    public static let maximumQueues = 64
    /// `size_max`: the largest single segment the driver may use.
    static let segmentSizeMax: UInt32 = 1 << 20
    /// Per-request limits for discard and write-zeroes (`max_*_sectors` = 2 GiB).
    static let maxDiscardSectors: UInt32 = 1 << 22
    static let maxDiscardSegments: UInt32 = 32

    public let configuration: VirtioBlockConfiguration
    public let backend: any BlockBackend
    public let service: VirtqueueService
    /// The engine the device runs its I/O on.
    public let engine: BlockIOEngine
    private let limits: BlockLimits
    private let config: BlockConfigSpace
    /// The size the device reports and enforces; ``resize(to:)`` changes it.
    let capacity: BlockCapacity
    /// Requests counted as they complete, and failures reported (QMP `query-blockstats`,
    /// `BLOCK_IO_ERROR`).
    public let statistics = BlockStatistics()
    /// The running activation's way to the driver, for configuration-change notifications.
    let interrupts = Mutex<(any VirtioInterruptSink)?>(nil)
    private let threadIO: ThreadBlockRequestIO
    /// One ring per queue with ``BlockIOEngine/ioUring``; empty otherwise.
    let uringQueues: [UringBlockRequestIO]
    private let logger: Logger

    /// Opens `configuration.path` as a raw image (with `O_DIRECT` for `cache=none`, where
    /// the file system allows it: otherwise buffered, with a warning).
    public convenience init(configuration: VirtioBlockConfiguration, name: String = "virtio-blk",
                            logger: Logger = Logger(label: "swiftdm.virtio-blk")) throws(VirtioBlockError) {
        try configuration.validate()
        let backend: FileBlockBackend
        do throws(BlockBackendError) {
            backend = try FileBlockBackend(path: configuration.path, readOnly: configuration.readOnly, cache: configuration.cache,
                                           lockingNow: configuration.locksImageAtOpen)
        } catch {
            throw .backend(error)
        }
        if let reason = backend.directIOFallback {
            logger.warning("\(name): cache=none: \(reason) on \(configuration.path): using buffered I/O")
        }
        try self.init(configuration: configuration, backend: backend, name: name, logger: logger)
    }

    /// Takes the image's lock if it was opened without it
    /// (``VirtioBlockConfiguration/locksImageAtOpen``); nothing for other backends.
    public func lockImage() throws(VirtioBlockError) {
        guard let file = backend as? FileBlockBackend else { return }
        do throws(BlockBackendError) { try file.lockImage() } catch { throw .backend(error) }
    }

    /// Lets go of the image's lock (a migration's sending side, whose saved state another
    /// device model on this host continues); ``lockImage()`` takes it again.
    public func unlockImage() { (backend as? FileBlockBackend)?.unlockImage() }

    /// Serves `backend` (any ``BlockBackend``); `configuration.path` is informational. The
    /// io_uring engine needs a ``FileBlockBackend``; other backends run on the thread pool.
    public init(configuration: VirtioBlockConfiguration, backend: any BlockBackend, name: String = "virtio-blk",
                logger: Logger = Logger(label: "swiftdm.virtio-blk")) throws(VirtioBlockError) {
        try configuration.validate()
        self.configuration = configuration
        self.backend = backend
        self.logger = logger
        let readOnly = configuration.readOnly || backend.isReadOnly
        let sectors = backend.capacity / BlockLayout.sectorSize
        capacity = BlockCapacity(bytes: sectors * BlockLayout.sectorSize)
        limits = BlockLimits(
            capacityBytes: sectors * BlockLayout.sectorSize, readOnly: readOnly,
            discard: configuration.discard && !readOnly, writeZeroes: configuration.writeZeroes && !readOnly,
            maxDiscardSectors: Self.maxDiscardSectors, maxDiscardSegments: Self.maxDiscardSegments,
            maxWriteZeroesSectors: Self.maxDiscardSectors, maxWriteZeroesSegments: Self.maxDiscardSegments)
        let ratio = configuration.physicalBlockSize / configuration.logicalBlockSize
        config = BlockConfigSpace(
            capacitySectors: sectors,
            sizeMax: Self.segmentSizeMax,
            segMax: UInt32(configuration.queueSize) - 2,   // header and status take two
            blockSize: configuration.logicalBlockSize,
            physicalBlockExponent: UInt8(ratio.trailingZeroBitCount),
            minIOSize: 1, optimalIOSize: 0,
            numQueues: UInt16(configuration.effectiveQueues),
            maxDiscardSectors: Self.maxDiscardSectors, maxDiscardSegments: Self.maxDiscardSegments,
            discardSectorAlignment: configuration.logicalBlockSize / UInt32(BlockLayout.sectorSize),
            maxWriteZeroesSectors: Self.maxDiscardSectors, maxWriteZeroesSegments: Self.maxDiscardSegments,
            writeZeroesMayUnmap: true)
        do {
            service = try VirtqueueService(name: name, workerThreads: configuration.ioThreads,
                                           queueThreads: configuration.effectiveQueueThreads, polling: AvailRingPolling(limit: configuration.pollLimit))
        } catch { throw .runtime(error) }
        threadIO = ThreadBlockRequestIO(backend: backend, statistics: statistics)
        engine = try Self.chooseEngine(configuration.aio, backend: backend, logger: logger)
        var rings: [UringBlockRequestIO] = []
        if engine == .ioUring, let file = backend as? FileBlockBackend {
            // Rings are set up now, not at activation: a seccomp filter installed once the
            // machine runs allows io_uring_enter but not io_uring_setup.
            for q in 0..<configuration.effectiveQueues {
                do throws(BlockBackendError) {
                    rings.append(try UringBlockRequestIO(backend: file, entries: Int(configuration.queueSize),
                                                         loop: service.loop(forQueue: q),
                                                         name: "\(name) queue \(q)", statistics: statistics, logger: logger))
                } catch {
                    for r in rings { r.close() }
                    service.shutdown()
                    throw .backend(error)
                }
            }
        }
        uringQueues = rings
    }

    deinit {
        // Requests still on a ring complete while its watch still reaps (a stop waits for
        // them); only then do the watches go, before the rings they watch.
        if !uringQueues.isEmpty && !service.loops.contains(where: \.isCurrent) { service.stop() }
        for r in uringQueues { r.close() }
    }

    /// Warned at most once per process, however many disks fall back.
    private static let warnedUnavailable = Atomic<Bool>(false)

    /// `aio=` as asked, or the default: inline for an image file in memory, io_uring for
    /// other image files where the host has it, else the thread pool (saying so once).
    private static func chooseEngine(_ asked: BlockIOEngine?, backend: any BlockBackend,
                                     logger: Logger) throws(VirtioBlockError) -> BlockIOEngine {
        guard let file = backend as? FileBlockBackend else { return asked == .inline ? .inline : .threads }
        switch asked {
        case .threads?:
            return .threads
        case .inline?:
            return .inline
        case .ioUring?:
            if let problem = IOURingAvailability.problem { throw .backend(problem) }
            return .ioUring
        case nil:
            if let fileSystem = file.memoryFileSystem {
                logger.debug("\(file.path) is on \(fileSystem): I/O runs inline on the queue's thread (aio=inline)")
                return .inline
            }
            guard let problem = IOURingAvailability.problem else { return .ioUring }
            if !warnedUnavailable.exchange(true, ordering: .relaxed) {
                logger.warning("io_uring unavailable (\(problem)): using the thread-pool engine")
            }
            return .threads
        }
    }

    public var deviceType: VirtioDeviceType { .block }

    public var offeredFeatures: UInt64 {
        var f = VirtioFeature.version1 | VirtioFeature.eventIndex | VirtioFeature.indirectDescriptors
            | VirtioBlockFeature.sizeMax | VirtioBlockFeature.segMax | VirtioBlockFeature.blockSize
            | VirtioBlockFeature.flush | VirtioBlockFeature.topology | VirtioBlockFeature.multiQueue
        if limits.readOnly { f |= VirtioBlockFeature.readOnly }
        if limits.discard { f |= VirtioBlockFeature.discard }
        if limits.writeZeroes { f |= VirtioBlockFeature.writeZeroes }
        return f
    }

    public var queueMaxSizes: [UInt16] { Array(repeating: configuration.queueSize, count: configuration.effectiveQueues) }

    public func readConfig() -> [UInt8] {
        var current = config
        current.capacitySectors = capacity.bytes / BlockLayout.sectorSize
        return current.bytes
    }

    /// Every field is read-only without `CONFIG_WCE` (not offered).
    public func writeConfig(offset: Int, bytes: [UInt8]) {}

    public func activate(_ activation: VirtioActivation) throws(VirtioDeviceError) {
        // Features the driver did not accept are not served either (§5.2.6.2 answers them
        // with UNSUPP).
        var limits = self.limits
        limits.discard = limits.discard && activation.has(VirtioBlockFeature.discard)
        limits.writeZeroes = limits.writeZeroes && activation.has(VirtioBlockFeature.writeZeroes)
        let serial = Array((configuration.serial ?? "").utf8)
        var handlers: [Int: any VirtqueueHandler] = [:]
        for binding in activation.queues where binding.index < configuration.effectiveQueues {
            // io_uring uses host slices after the call that produced them: only memory whose
            // mappings persist qualifies (not Xen's map-on-demand memory).
            let io: any BlockRequestIO
            if engine == .inline {
                io = InlineBlockRequestIO(backend: backend, statistics: statistics)
            } else if binding.index < uringQueues.count, binding.queue.memory is any PersistentlyMappedGuestMemory {
                io = uringQueues[binding.index]
            } else {
                if binding.index < uringQueues.count {
                    logger.info("\(service.loop.name) queue \(binding.index): guest memory is mapped on demand, which io_uring cannot use: thread-pool engine")
                }
                io = threadIO
            }
            handlers[binding.index] = BlockQueueHandler(io: io, limits: limits, serial: serial, capacity: capacity, statistics: statistics)
        }
        interrupts.withLock { $0 = activation.interrupts }
        service.start(activation, handlers: handlers)
    }

    public func reset() {
        interrupts.withLock { $0 = nil }
        service.stop()
    }
}
