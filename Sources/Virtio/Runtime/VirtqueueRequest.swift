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
public final class VirtqueueRequest: Sendable {
    /// The validated chain: the device reads from `readable` and writes into `writable`.
    public let chain: DescriptorChain
    let queue: ServedQueue
    private let finished = Atomic<Bool>(false)

    init(chain: DescriptorChain, queue: ServedQueue) {
        self.chain = chain
        self.queue = queue
    }

    deinit {
        if !finished.load(ordering: .acquiring) {
            // Deferred even on the I/O thread: a deinit can run in the middle of any
            // loop-side mutation, and the used ring must not be touched re-entrantly.
            queue.finishDeferred(head: chain.head, bytesWritten: 0)
        }
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

    /// Returns the chain to the driver with `bytesWritten` bytes written into its writable
    /// buffers (clamped to their total: §2.7.8.2 forbids claiming more than was written).
    /// Call from any thread. Returns `false` if the request was already finished.
    @discardableResult
    public func complete(bytesWritten: Int) -> Bool {
        guard !finished.exchange(true, ordering: .acquiringAndReleasing) else { return false }
        let written = UInt32(clamping: max(0, min(bytesWritten, chain.writableLength)))
        queue.finish(head: chain.head, bytesWritten: written, error: nil)
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
        queue.finish(head: chain.head, bytesWritten: 0, error: error)
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
