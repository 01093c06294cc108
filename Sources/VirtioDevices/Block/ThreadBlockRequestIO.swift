import HostIO
import Virtio

/// The thread-pool engine: each request's blocking I/O runs on the device's worker threads
/// through ``VirtqueueRequest/offload(_:)`` and completes from there. The fallback where
/// io_uring is unavailable, and the engine for backends that are not image files.
struct ThreadBlockRequestIO: BlockRequestIO {
    let backend: any BlockBackend

    func read(_ request: VirtqueueRequest, status: UInt64, data: [GuestBuffer], offset: UInt64, length: Int) {
        request.offload { [backend] request in
            let result = BlockQueueHandler.withHostSlices(request.memory, data) { slices throws(BlockBackendError) in
                try backend.read(into: slices, at: offset)
            }
            BlockQueueHandler.complete(request, status, result, filled: result == .ok ? length : 0)
        }
    }

    func write(_ request: VirtqueueRequest, status: UInt64, data: [GuestBuffer], offset: UInt64, writethrough: Bool) {
        request.offload { [backend] request in
            // The used entry is pushed only after every byte reached the image (and,
            // without a negotiated FLUSH, reached stable storage): acknowledged writes
            // are never lost.
            var result = BlockQueueHandler.withHostSlices(request.memory, data) { slices throws(BlockBackendError) in
                try backend.write(from: slices, at: offset)
            }
            if result == .ok && writethrough {
                result = BlockQueueHandler.status { () throws(BlockBackendError) in try backend.flush() }
            }
            BlockQueueHandler.complete(request, status, result)
        }
    }

    func flush(_ request: VirtqueueRequest, status: UInt64) {
        request.offload { [backend] request in
            BlockQueueHandler.complete(request, status, BlockQueueHandler.status { () throws(BlockBackendError) in try backend.flush() })
        }
    }

    func zero(_ request: VirtqueueRequest, status: UInt64, segments: [BlockQueueHandler.BlockSegment], discard: Bool,
              writethrough: Bool) {
        request.offload { [backend] request in
            var result = BlockQueueHandler.status { () throws(BlockBackendError) in
                for s in segments {
                    if discard {
                        try backend.discard(offset: s.offset, length: s.length)
                    } else {
                        try backend.writeZeroes(offset: s.offset, length: s.length, mayUnmap: s.unmap)
                    }
                }
            }
            if result == .ok && writethrough && !discard {
                result = BlockQueueHandler.status { () throws(BlockBackendError) in try backend.flush() }
            }
            BlockQueueHandler.complete(request, status, result)
        }
    }
}
