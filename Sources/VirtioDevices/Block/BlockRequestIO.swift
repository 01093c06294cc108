import Virtio

/// Runs the I/O of parsed virtio-blk requests and completes them (status byte and used
/// entry): on worker threads (``ThreadBlockRequestIO``) or on an io_uring reaped by the
/// queue's I/O thread (``UringBlockRequestIO``). Called on the queue's I/O thread.
protocol BlockRequestIO: Sendable {
    /// The queue starts being served.
    func start(_ queue: ServedQueue)
    /// Fills `data` (the request's `length` data bytes) from the image at `offset`.
    func read(_ request: VirtqueueRequest, status: UInt64, data: GuestBufferRun, offset: UInt64, length: Int)
    /// Writes `data` to the image at `offset`, then syncs if `writethrough`.
    func write(_ request: VirtqueueRequest, status: UInt64, data: GuestBufferRun, offset: UInt64, writethrough: Bool)
    /// Makes completed writes durable.
    func flush(_ request: VirtqueueRequest, status: UInt64)
    /// Discards or zeroes every segment (then syncs zeroing if `writethrough`).
    func zero(_ request: VirtqueueRequest, status: UInt64, segments: [BlockQueueHandler.BlockSegment], discard: Bool,
              writethrough: Bool)
    /// The end of one serve pass: start everything the pass queued, in one go.
    func submitBatch()
}

extension BlockRequestIO {
    func start(_ queue: ServedQueue) {}
    func submitBatch() {}
}
