import DeviceModel

/// virtio-blk (virtio 1.2 §5.2) over a ``BlockBackend``, normally a raw image
/// (``FileBlockBackend``). Requests are parsed on the device's I/O thread; reads, writes,
/// flushes, discards and zeroing run on its worker threads and complete asynchronously.
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
    private let limits: BlockLimits
    private let config: BlockConfigSpace

    /// Opens `configuration.path` as a raw image.
    public convenience init(configuration: VirtioBlockConfiguration, name: String = "virtio-blk") throws(VirtioBlockError) {
        try configuration.validate()
        let backend = try FileBlockBackend(path: configuration.path, readOnly: configuration.readOnly)
        try self.init(configuration: configuration, backend: backend, name: name)
    }

    /// Serves `backend` (any ``BlockBackend``); `configuration.path` is informational.
    public init(configuration: VirtioBlockConfiguration, backend: any BlockBackend, name: String = "virtio-blk") throws(VirtioBlockError) {
        try configuration.validate()
        self.configuration = configuration
        self.backend = backend
        let readOnly = configuration.readOnly || backend.isReadOnly
        let sectors = backend.capacity / BlockLayout.sectorSize
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
        do { service = try VirtqueueService(name: name, workerThreads: configuration.ioThreads) } catch { throw .runtime(error) }
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

    public func readConfig() -> [UInt8] { config.bytes }

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
            handlers[binding.index] = BlockQueueHandler(backend: backend, limits: limits, serial: serial)
        }
        service.start(activation, handlers: handlers)
    }

    public func reset() { service.stop() }
}
