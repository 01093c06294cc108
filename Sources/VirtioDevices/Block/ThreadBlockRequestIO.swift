import HostIO
import Virtio

/// The thread-pool engine: each request's blocking I/O runs on the device's worker threads
/// through ``VirtqueueRequest/offload(_:)`` and completes from there. The fallback where
/// io_uring is unavailable, and the engine for backends that are not image files. The work
/// on the worker is exactly the inline engine's.
struct ThreadBlockRequestIO: BlockRequestIO {
    private let onWorker: InlineBlockRequestIO

    init(backend: any BlockBackend, statistics: BlockStatistics) {
        onWorker = InlineBlockRequestIO(backend: backend, statistics: statistics)
    }

    func read(_ request: VirtqueueRequest, status: UInt64, data: GuestBufferRun, offset: UInt64, length: Int) {
        request.offload { [onWorker] request in onWorker.read(request, status: status, data: data, offset: offset, length: length) }
    }

    func write(_ request: VirtqueueRequest, status: UInt64, data: GuestBufferRun, offset: UInt64, writethrough: Bool) {
        request.offload { [onWorker] request in
            onWorker.write(request, status: status, data: data, offset: offset, writethrough: writethrough)
        }
    }

    func flush(_ request: VirtqueueRequest, status: UInt64) {
        request.offload { [onWorker] request in onWorker.flush(request, status: status) }
    }

    func zero(_ request: VirtqueueRequest, status: UInt64, segments: [BlockQueueHandler.BlockSegment], discard: Bool,
              writethrough: Bool) {
        request.offload { [onWorker] request in
            onWorker.zero(request, status: status, segments: segments, discard: discard, writethrough: writethrough)
        }
    }
}
