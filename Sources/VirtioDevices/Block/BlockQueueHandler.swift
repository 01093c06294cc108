import DeviceModel
import HostIO
import Virtio

/// Parses virtio-blk requests on the device's I/O thread and hands their I/O to the queue's
/// engine, io_uring or worker threads (``BlockRequestIO``) (virtio 1.2 §5.2.6; Linux
/// `drivers/block/virtio_blk.c` is the reference driver).
///
/// Layout: the 16-byte header is the first 16 readable bytes; the status byte is the last
/// writable byte; data is what lies between. A chain without room for both cannot be
/// answered at all and puts the device in NEEDS_RESET (as QEMU's "missing headers").
/// Everything else a driver can get wrong is answered with `IOERR` or `UNSUPP`.
final class BlockQueueHandler: VirtqueueHandler, @unchecked Sendable {
    // SAFETY (@unchecked): all stored properties are immutable; the engine is Sendable and
    // used on the I/O thread only.
    let io: any BlockRequestIO
    let limits: BlockLimits
    let serial: [UInt8]
    /// The image's size now (``VirtioBlockDevice/resize(to:)`` changes it while queues run);
    /// `limits.capacityBytes` is the size at activation and is not used for range checks.
    let capacity: BlockCapacity
    let statistics: BlockStatistics

    init(io: any BlockRequestIO, limits: BlockLimits, serial: [UInt8], capacity: BlockCapacity, statistics: BlockStatistics) {
        self.io = io
        self.limits = limits
        self.serial = serial
        self.capacity = capacity
        self.statistics = statistics
    }

    func start(_ queue: ServedQueue) { io.start(queue) }

    /// One pass over the available ring; the I/O of every request it took starts together
    /// at the end (one io_uring submit per kick).
    func serve(_ queue: ServedQueue) {
        queue.forEachRequest { request throws(VirtioDeviceError) in
            try handle(request, queue)
            return .proceed
        }
        io.submitBatch()
    }

    private func malformed(_ request: VirtqueueRequest, _ reason: String) -> VirtioDeviceError {
        .malformedRequest(queue: request.queueIndex, head: request.head, reason: reason)
    }

    private func handle(_ request: VirtqueueRequest, _ queue: ServedQueue) throws(VirtioDeviceError) {
        let chain = request.chain
        guard let status = Self.lastWritableByte(chain.writable) else {
            throw malformed(request, "virtio-blk request has no writable status byte")
        }
        guard chain.readableLength >= BlockLayout.headerSize else {
            throw malformed(request, "virtio-blk request header is \(chain.readableLength) bytes, needs 16")
        }
        var reader = request.makeReader()
        let type: UInt32
        let sector: UInt64
        do {
            type = try reader.read(UInt32.self)
            try reader.skip(4)
            sector = try reader.read(UInt64.self)
        } catch {
            throw malformed(request, "virtio-blk header: \(error)")
        }
        let dataIn = chain.writableLength - 1
        let writethrough = !queue.has(VirtioBlockFeature.flush)

        switch BlockRequestType(rawValue: type) {
        case .read?:
            guard let offset = range(sector: sector, length: dataIn) else {
                statistics.invalid(.read)
                return finish(request, status, .ioError)
            }
            var writer = request.makeWriter()
            let data = (try? writer.takeBuffers(count: dataIn)) ?? GuestBufferRun()
            io.read(request, status: status, data: data, offset: offset, length: dataIn)

        case .write?:
            let dataOut = chain.readableLength - BlockLayout.headerSize
            guard !limits.readOnly else {
                statistics.invalid(.write)
                return finish(request, status, .ioError)
            }
            guard let offset = range(sector: sector, length: dataOut) else {
                statistics.invalid(.write)
                return finish(request, status, .ioError)
            }
            let data = (try? reader.takeBuffers(count: dataOut)) ?? GuestBufferRun()
            io.write(request, status: status, data: data, offset: offset, writethrough: writethrough)

        case .flush?:
            io.flush(request, status: status)

        case .getID?:
            // A NUL-padded string of up to 20 bytes; no terminator when it is exactly 20.
            let n = min(dataIn, BlockLayout.idBytes)
            var id = Array(serial.prefix(n))
            id += Array(repeating: 0, count: n - id.count)
            var writer = request.makeWriter()
            do { try writer.write(id) } catch { throw malformed(request, "GET_ID buffer: \(error)") }
            finish(request, status, .ok, filled: n)

        case .discard?, .writeZeroes?:
            let isDiscard = type == BlockRequestType.discard.rawValue
            guard isDiscard ? limits.discard : limits.writeZeroes else { return finish(request, status, .unsupported) }
            guard !limits.readOnly else { return finish(request, status, .ioError) }
            let segments: [BlockSegment]
            switch parseSegments(&reader, length: chain.readableLength - BlockLayout.headerSize, discard: isDiscard) {
            case .segments(let s): segments = s
            case .refused(let s): return finish(request, status, s)
            }
            io.zero(request, status: status, segments: segments, discard: isDiscard, writethrough: writethrough)

        default:
            finish(request, status, .unsupported)
        }
    }

    // MARK: Helpers

    enum ParsedSegments {
        case segments([BlockSegment])
        case refused(BlockStatus)
    }

    struct BlockSegment {
        var offset: UInt64
        var length: UInt64
        var unmap: Bool
    }

    /// Reads `struct virtio_blk_discard_write_zeroes` segments and checks them (§5.2.6.2):
    /// unknown flags, or UNMAP on a discard, are `UNSUPP`; a bad count or range is `IOERR`.
    private func parseSegments(_ reader: inout ChainReader, length: Int, discard: Bool) -> ParsedSegments {
        let maxSegments = Int(discard ? limits.maxDiscardSegments : limits.maxWriteZeroesSegments)
        let maxSectors = UInt64(discard ? limits.maxDiscardSectors : limits.maxWriteZeroesSectors)
        guard length > 0, length % BlockLayout.segmentSize == 0 else { return .refused(.ioError) }
        let count = length / BlockLayout.segmentSize
        guard count <= maxSegments else { return .refused(.ioError) }
        var out: [BlockSegment] = []
        for _ in 0..<count {
            guard let sector = try? reader.read(UInt64.self),
                  let sectors = try? reader.read(UInt32.self),
                  let flags = try? reader.read(UInt32.self) else { return .refused(.ioError) }
            if flags & ~BlockLayout.unmapFlag != 0 || (discard && flags & BlockLayout.unmapFlag != 0) {
                return .refused(.unsupported)
            }
            guard UInt64(sectors) <= maxSectors else { return .refused(.ioError) }
            let bytes = UInt64(sectors) * BlockLayout.sectorSize
            guard let offset = range(sector: sector, length: bytes) else { return .refused(.ioError) }
            out.append(BlockSegment(offset: offset, length: bytes, unmap: flags & BlockLayout.unmapFlag != 0))
        }
        return .segments(out)
    }

    /// Byte offset of `sector` if `[sector*512, +length)` lies within the image and `length`
    /// is whole sectors; nil otherwise (overflow-checked).
    private func range<L: BinaryInteger>(sector: UInt64, length: L) -> UInt64? {
        let length = UInt64(length)
        guard length % BlockLayout.sectorSize == 0 else { return nil }
        let (offset, o1) = sector.multipliedReportingOverflow(by: BlockLayout.sectorSize)
        let (end, o2) = offset.addingReportingOverflow(length)
        guard !o1, !o2, end <= capacity.bytes else { return nil }
        return offset
    }

    static func lastWritableByte(_ buffers: [GuestBuffer]) -> UInt64? {
        guard let last = buffers.last(where: { $0.length > 0 }) else { return nil }
        return last.address + UInt64(last.length) - 1
    }

    private func finish(_ request: VirtqueueRequest, _ status: UInt64, _ value: BlockStatus, filled: Int = 0) {
        Self.complete(request, status, value, filled: filled)
    }

    /// Writes the status byte and completes. The used length covers the whole writable
    /// part: `len` counts bytes from the start of the writable buffers (§2.7.8.2), and the
    /// status byte is the last of them, so data bytes the device did not fill (a failed or
    /// refused read, a short GET_ID) are zeroed rather than claimed unwritten.
    static func complete(_ request: VirtqueueRequest, _ status: UInt64, _ value: BlockStatus, filled: Int = 0) {
        let total = request.chain.writableLength
        do {
            var writer = request.makeWriter()
            let unfilled = max(0, total - 1 - filled)
            if unfilled > 0 {
                _ = try writer.takeBuffers(count: filled)
                for b in try writer.takeBuffers(count: unfilled) {
                    try request.memory.fill(0, at: b.address, length: Int(b.length))
                }
            }
            try request.memory.write(value.rawValue, at: status)
            request.complete(bytesWritten: total)
        } catch {
            request.fail("virtio-blk status byte: \(error)")
        }
    }

    static func status(_ body: () throws(BlockBackendError) -> Void) -> BlockStatus {
        do { try body(); return .ok } catch { return .ioError }
    }

}

/// What the device advertised, and therefore enforces.
struct BlockLimits: Sendable {
    var capacityBytes: UInt64
    var readOnly: Bool
    var discard: Bool
    var writeZeroes: Bool
    var maxDiscardSectors: UInt32
    var maxDiscardSegments: UInt32
    var maxWriteZeroesSectors: UInt32
    var maxWriteZeroesSegments: UInt32
}
