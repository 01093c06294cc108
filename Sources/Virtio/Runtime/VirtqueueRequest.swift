import DeviceModel
import Synchronization

/// One popped descriptor chain on its way back to the used ring.
///
/// The runtime guarantees that every popped head is returned exactly once: the first call
/// to ``complete(bytesWritten:)`` or ``fail(_:)`` wins, later calls do nothing, and a request
/// dropped without either is returned with zero bytes written (so a device bug can stall
/// nothing). Completion works from any thread; the used ring itself is only written on the
/// device's I/O thread. After the device stops (reset, NEEDS_RESET) completions are ignored:
/// the driver has abandoned those buffers.
///
/// Request objects are pooled by their queue: once a request finished and nothing but the
/// queue refers to it any more, the queue pops the next chain into it (its chain and slice
/// storage included), so serving a request allocates nothing in steady state. A reference
/// kept after completion keeps the object out of the pool; it never sees another chain.
public final class VirtqueueRequest: @unchecked Sendable {
    // SAFETY (@unchecked): `chain` is written only by the queue on its I/O thread, before the
    // request is handed out, while the queue holds the only reference (pooled reuse checks
    // `isKnownUniquelyReferenced`); `slices` belongs to whoever handles the request, one
    // thread at a time, as the request itself does.
    /// The validated chain: the device reads from `readable` and writes into `writable`.
    public internal(set) var chain: DescriptorChain
    let queue: ServedQueue
    /// True while the object waits in its queue's pool, and once completed.
    private let finished = Atomic<Bool>(true)
    /// The host slices of the last ``withHostSlices(of:_:)``, kept as storage for the next.
    private var slices: [UnsafeMutableRawBufferPointer] = []

    /// An empty request for `queue`'s pool (finished: dropping it returns nothing).
    init(queue: ServedQueue) {
        self.chain = DescriptorChain()
        self.queue = queue
    }

    deinit {
        if !finished.load(ordering: .acquiring) {
            // Deferred even on the I/O thread: a deinit can run in the middle of any
            // loop-side mutation, and the used ring must not be touched re-entrantly.
            queue.finishDeferred(head: chain.head, bytesWritten: 0)
        }
    }

    /// Hands the request out with the chain just popped into it. Loop thread.
    func start() {
        finished.store(false, ordering: .releasing)
    }

    /// The chain's head index (the used ring's `id`).
    public var head: UInt16 { chain.head }
    /// The queue's index in the device.
    public var queueIndex: Int { queue.index }
    /// Guest memory the chain's buffers live in.
    public var memory: any GuestMemory { queue.memory }

    /// A cursor over the device-readable buffers.
    public func makeReader() -> ChainReader { ChainReader(memory: queue.memory, buffers: chain.readable) }
    /// A cursor over the device-writable buffers.
    public func makeWriter() -> ChainWriter { ChainWriter(memory: queue.memory, buffers: chain.writable) }

    /// True once the request was completed or failed.
    public var isFinished: Bool { finished.load(ordering: .acquiring) }

    /// Calls `body` with the host slices backing `buffers` (part of this request's chain),
    /// in order: the iovec list for a zero-copy `preadv`/`pwritev`. The list is gathered in
    /// storage the request keeps for the next chain it carries, so once warm this allocates
    /// nothing. As with ``DeviceModel/GuestMemory/withSlices(of:_:)``, the slices are valid
    /// during the call (beyond it only for ``DeviceModel/PersistentlyMappedGuestMemory``).
    /// Call from the thread handling the request.
    public func withHostSlices<R>(
        of buffers: some Sequence<GuestBuffer>, _ body: ([UnsafeMutableRawBufferPointer]) -> R
    ) throws(GuestMemoryError) -> R {
        // Taken out for the call: a nested call on the same request then starts afresh
        // instead of overlapping this access.
        var storage: [UnsafeMutableRawBufferPointer] = []
        swap(&storage, &slices)
        defer { swap(&storage, &slices) }
        return try queue.memory.withSlices(of: buffers, gatheringInto: &storage, body)
    }

    /// Returns the chain to the driver with `bytesWritten` bytes written into its writable
    /// buffers (clamped to their total: §2.7.8.2 forbids claiming more than was written).
    /// Call from any thread. Returns `false` if the request was already finished.
    @discardableResult
    public func complete(bytesWritten: Int) -> Bool {
        guard !finished.exchange(true, ordering: .acquiringAndReleasing) else { return false }
        let written = UInt32(clamping: max(0, min(bytesWritten, chain.writableLength)))
        queue.finish(self, bytesWritten: written, error: nil)
        return true
    }

    /// The request is malformed in a way no device status can express (e.g. a virtio-blk
    /// request without a status byte): the chain is returned with nothing written and the
    /// device enters `DEVICE_NEEDS_RESET` (§2.1.2). Call from any thread.
    public func fail(_ reason: String) {
        fail(.malformedRequest(queue: queue.index, head: chain.head, reason: reason))
    }

    /// As ``fail(_:)-(String)``, with the device error to report.
    public func fail(_ error: VirtioDeviceError) {
        guard !finished.exchange(true, ordering: .acquiringAndReleasing) else { return }
        queue.finish(self, bytesWritten: 0, error: error)
    }

    /// Runs `work` on the device's worker threads (blocking file I/O) and keeps the device's
    /// reset waiting until it returned. `work` must finish the request (typically with
    /// ``complete(bytesWritten:)``); guest memory may be touched only inside `work`. If the
    /// device stops before `work` starts, it is skipped.
    public func offload(_ work: @escaping @Sendable (VirtqueueRequest) -> Void) {
        queue.offload(self, work)
    }

    /// Marks I/O on this request's buffers that the device started without a worker thread
    /// and that completes later on the I/O thread (an io_uring `readv` into guest memory).
    /// ``VirtqueueService/stop()`` waits for the matching ``endAsynchronousIO()`` — past
    /// ``VirtqueueService/drainTimeout`` too, as it waits for offloaded jobs — so the kernel
    /// never writes guest memory after stop returned. The device must keep reaping its
    /// completions on the I/O thread while stopping. Call on the I/O thread; pair each call
    /// with exactly one end.
    public func beginAsynchronousIO() {
        queue.session.offloads.begin()
    }

    /// Ends what ``beginAsynchronousIO()`` began, after the I/O finished (any thread).
    public func endAsynchronousIO() {
        queue.session.offloads.end()
    }
}
