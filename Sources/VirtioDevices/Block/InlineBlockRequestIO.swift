import DeviceModel
import HostIO
import Virtio

/// The inline engine (``BlockIOEngine/inline``): each request's `preadv`/`pwritev` runs on
/// the queue's I/O thread and completes before the next chain is taken, so a request costs
/// one system call and no thread hand-over at all. Right for images in memory, where the
/// call is a copy that never waits on a device; everything else belongs on io_uring or the
/// worker threads. ``ThreadBlockRequestIO`` runs these same bodies on its workers.
struct InlineBlockRequestIO: BlockRequestIO {
    let backend: any BlockBackend
    let statistics: BlockStatistics

    /// Runs `body`; its error, as text, or `nil`.
    private static func failure(_ body: () throws(BlockBackendError) -> Void) -> String? {
        do { try body(); return nil } catch { return "\(error)" }
    }

    /// Runs `body` on the host slices of `buffers` (gathered in the request's own storage);
    /// its error, as text, or `nil`.
    private static func failure(_ request: VirtqueueRequest, _ buffers: GuestBufferRun,
                                _ body: ([UnsafeMutableRawBufferPointer]) throws(BlockBackendError) -> Void) -> String? {
        do {
            return try request.withHostSlices(of: buffers) { slices in Self.failure { () throws(BlockBackendError) in try body(slices) } }
        } catch {
            return "guest buffers: \(error)"
        }
    }

    private static func status(_ failure: String?) -> BlockStatus { failure == nil ? .ok : .ioError }

    func read(_ request: VirtqueueRequest, status: UInt64, data: GuestBufferRun, offset: UInt64, length: Int) {
        let failure = Self.failure(request, data) { slices throws(BlockBackendError) in
            try backend.read(into: slices, at: offset)
        }
        statistics.completed(.read, bytes: UInt64(length), offset: offset, failure: failure)
        BlockQueueHandler.complete(request, status, Self.status(failure), filled: failure == nil ? length : 0)
    }

    func write(_ request: VirtqueueRequest, status: UInt64, data: GuestBufferRun, offset: UInt64, writethrough: Bool) {
        // Acknowledged only once every byte is in the image (and synced without FLUSH).
        var failure = Self.failure(request, data) { slices throws(BlockBackendError) in
            try backend.write(from: slices, at: offset)
        }
        if failure == nil && writethrough {
            failure = Self.failure { () throws(BlockBackendError) in try backend.flush() }
        }
        statistics.completed(.write, bytes: UInt64(data.byteCount), offset: offset, failure: failure)
        BlockQueueHandler.complete(request, status, Self.status(failure))
    }

    func flush(_ request: VirtqueueRequest, status: UInt64) {
        let failure = Self.failure { () throws(BlockBackendError) in try backend.flush() }
        statistics.completed(.flush, bytes: 0, failure: failure)
        BlockQueueHandler.complete(request, status, Self.status(failure))
    }

    func zero(_ request: VirtqueueRequest, status: UInt64, segments: [BlockQueueHandler.BlockSegment], discard: Bool,
              writethrough: Bool) {
        var failure = Self.failure { () throws(BlockBackendError) in
            for s in segments {
                if discard {
                    try backend.discard(offset: s.offset, length: s.length)
                } else {
                    try backend.writeZeroes(offset: s.offset, length: s.length, mayUnmap: s.unmap)
                }
            }
        }
        if failure == nil && writethrough && !discard {
            failure = Self.failure { () throws(BlockBackendError) in try backend.flush() }
        }
        statistics.completed(.unmap, bytes: segments.reduce(0) { $0 + $1.length }, failure: failure)
        BlockQueueHandler.complete(request, status, Self.status(failure))
    }
}
