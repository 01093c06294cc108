import HostIO
import Virtio

/// The inline engine (``BlockIOEngine/inline``): each request's `preadv`/`pwritev` runs on
/// the queue's I/O thread and completes before the next chain is taken, so a request costs
/// one system call and no thread hand-over at all. Right for images in memory, where the
/// call is a copy that never waits on a device; everything else belongs on io_uring or the
/// worker threads. ``ThreadBlockRequestIO`` runs these same bodies on its workers.
struct InlineBlockRequestIO: BlockRequestIO {
    let backend: any BlockBackend

    func read(_ request: VirtqueueRequest, status: UInt64, data: [GuestBuffer], offset: UInt64, length: Int) {
        let result = BlockQueueHandler.withHostSlices(request.memory, data) { slices throws(BlockBackendError) in
            try backend.read(into: slices, at: offset)
        }
        BlockQueueHandler.complete(request, status, result, filled: result == .ok ? length : 0)
    }

    func write(_ request: VirtqueueRequest, status: UInt64, data: [GuestBuffer], offset: UInt64, writethrough: Bool) {
        // Acknowledged only once every byte is in the image (and synced without FLUSH).
        var result = BlockQueueHandler.withHostSlices(request.memory, data) { slices throws(BlockBackendError) in
            try backend.write(from: slices, at: offset)
        }
        if result == .ok && writethrough {
            result = BlockQueueHandler.status { () throws(BlockBackendError) in try backend.flush() }
        }
        BlockQueueHandler.complete(request, status, result)
    }

    func flush(_ request: VirtqueueRequest, status: UInt64) {
        BlockQueueHandler.complete(request, status, BlockQueueHandler.status { () throws(BlockBackendError) in try backend.flush() })
    }

    func zero(_ request: VirtqueueRequest, status: UInt64, segments: [BlockQueueHandler.BlockSegment], discard: Bool,
              writethrough: Bool) {
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
