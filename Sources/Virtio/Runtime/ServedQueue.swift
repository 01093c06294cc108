import CDeviceModelShims
import DeviceModel
import Synchronization

/// A virtqueue while its device runs: the driver's ring, its kick, the device's handler,
/// and the bookkeeping that returns every popped head exactly once and raises used-buffer
/// interrupts only when the driver asked for them.
///
/// Threading: everything except ``resume()`` and request completion runs on the queue's
/// I/O thread (``loop``; a device may spread its queues over several). Each activation creates new instances; a stopped instance ignores
/// every call, so late completions from a previous activation never reach the new rings.
public final class ServedQueue: @unchecked Sendable {
    // SAFETY (@unchecked): the `var`s below are touched only on `session.loop`'s thread
    // (every entry point is a loop callback or checks `loop.isCurrent`); cross-thread
    // completions go through the `deferred` mutex and `loop.execute`.
    public let index: Int
    /// The driver's ring. Exposed for transports that must report its position after the
    /// device stopped (vhost-user `GET_VRING_BASE`); devices use the methods below.
    public let virtqueue: SplitVirtqueue
    /// Features the driver accepted.
    public let features: UInt64
    let session: ServiceSession
    let handler: any VirtqueueHandler
    let kick: EventNotifier

    private var outstanding: [Bool]
    /// Popped heads not yet returned to the used ring.
    private(set) var outstandingCount = 0
    /// Set by ``drain()``: no chain is taken any more, but completions still land.
    private var draining = false
    private var handlerStopped = false
    public private(set) var isPaused = false
    private var batchDepth = 0
    private var pushedSinceCheck = false
    private let deferred = Mutex<[DeferredCompletion]>([])
    /// Spare storage for `deferred`'s list, swapped with it when the completions are
    /// pushed, so that neither needs new storage once both have grown. Loop thread.
    private var deferredDraining: [DeferredCompletion] = []
    /// Finished request objects, reused by the next pops (see ``VirtqueueRequest``). At most
    /// the queue size; emptied when the queue stops (each refers to the queue).
    private var pool: [VirtqueueRequest] = []
    /// Requests per used-buffer notification within one long pass.
    static let notifyEvery = 8
    /// The avail-ring polling window after each pass (the service's setting, adapted here).
    private var polling: AvailRingPolling
    /// When the last pass found the ring empty.
    private var idleSince: ContinuousClock.Instant?

    private struct DeferredCompletion {
        var head: UInt16
        var bytesWritten: UInt32
        var error: VirtioDeviceError?
        /// The request to pool once pushed; `nil` for one returned by its deinit.
        var request: VirtqueueRequest?
    }

    init(binding: VirtioQueueBinding, features: UInt64, session: ServiceSession, handler: any VirtqueueHandler,
         polling: AvailRingPolling = .off) {
        self.index = binding.index
        self.polling = polling
        self.virtqueue = binding.queue
        self.kick = binding.kick
        self.features = features
        self.session = session
        self.handler = handler
        self.outstanding = Array(repeating: false, count: Int(binding.queue.size))
        pool.reserveCapacity(Int(binding.queue.size))
    }

    /// The I/O thread serving this queue.
    public var loop: EventLoop { session.loop }
    public var memory: any GuestMemory { virtqueue.memory }
    /// False once the device stopped or entered NEEDS_RESET.
    public var isLive: Bool { session.isLive }
    /// True when `feature` was negotiated.
    public func has(_ feature: UInt64) -> Bool { features & feature == feature }

    // MARK: Taking requests

    /// The kick/drain loop of §2.7.10: with notifications suppressed, hands each available
    /// chain to `body` until the ring is empty or `body` pauses; then re-enables driver
    /// notifications and re-checks, so a chain added in between is not left waiting for a
    /// kick the driver will not send. A `body` error fails that request (NEEDS_RESET).
    public func forEachRequest(_ body: (VirtqueueRequest) throws(VirtioDeviceError) -> QueueFlow) {
        precondition(loop.isCurrent, "forEachRequest runs on the device's I/O thread")
        batch {
            while isLive && !isPaused {
                guard ring({ () throws(VirtqueueError) in try virtqueue.disableNotifications() }) != nil else { return }
                var taken = 0
                while isLive && !isPaused, let request = popRequest() {
                    do throws(VirtioDeviceError) {
                        if try body(request) == .pause { isPaused = true }
                    } catch {
                        request.fail(error)
                    }
                    // A long pass tells the driver about what already completed every few
                    // requests (if it asked to be told), so it can refill the ring while the
                    // rest is served instead of waiting for the whole pass.
                    taken += 1
                    if taken % Self.notifyEvery == 0 { flushNotification() }
                }
                guard isLive, !isPaused else { return }
                // The ring ran empty: a kick's distance from here (poll window included) is
                // what the window adapts to.
                if polling.limit > .zero { idleSince = ContinuousClock.now }
                // Polling only while nothing is in flight: completions from io_uring or the
                // workers arrive through the loop, which does not run while this thread spins.
                if polling.window > .zero, outstandingCount == 0 {
                    flushNotification()
                    if pollForAvailable(polling.window) { continue }
                }
                guard let more = ring({ () throws(VirtqueueError) in try virtqueue.enableNotifications() }), more else { return }
            }
        }
    }

    /// Spins (bounded by `window`) until the driver makes a chain available; true if it did.
    private func pollForAvailable(_ window: Duration) -> Bool {
        let deadline = ContinuousClock.now.advanced(by: window)
        // The ring is looked at after every PAUSE (as QEMU's run_poll_handlers checks its
        // handlers on every turn): a request found one batch of PAUSEs late waits up to
        // that batch (32 PAUSEs are about 0.7 µs on Zen), a fifth of a QD1 round trip.
        // The clock is read every 16 turns only.
        var turns = 0
        while true {
            swiftdm_cpu_relax()
            guard isLive else { return false }
            if (ring({ () throws(VirtqueueError) in try virtqueue.availableCount() }) ?? 0) > 0 { return true }
            turns &+= 1
            if turns & 15 == 0, ContinuousClock.now >= deadline { return false }
        }
    }

    /// Pops the next available chain, or `nil` when the ring is empty or the queue stopped.
    /// A ring violation puts the device in NEEDS_RESET and returns `nil`.
    public func popRequest() -> VirtqueueRequest? {
        precondition(loop.isCurrent, "popRequest runs on the device's I/O thread")
        guard isLive, !draining else { return nil }
        let request = pooledRequest() ?? VirtqueueRequest(queue: self)
        // The chain is walked into the request's own storage (refilled in place).
        guard ring({ () throws(VirtqueueError) in try virtqueue.popAvailable(into: &request.chain) }) == true else {
            recycle(request)
            return nil
        }
        let head = request.chain.head
        guard !outstanding[Int(head)] else {
            // The driver re-posted a head the device still owns (§2.7.13.1 forbids reusing
            // descriptors before they are used): completing both would corrupt its state.
            session.fail(.malformedRequest(queue: index, head: head, reason: "head made available again while still in use"))
            return nil
        }
        outstanding[Int(head)] = true
        outstandingCount += 1
        request.start()
        return request
    }

    /// A finished request from the pool that nothing else refers to any more, if any. One
    /// still referred to (a completion callback not yet released) leaves the pool: it is
    /// finished, so dropping it later returns nothing.
    private func pooledRequest() -> VirtqueueRequest? {
        while var candidate = pool.popLast() {
            if isKnownUniquelyReferenced(&candidate) { return candidate }
        }
        return nil
    }

    /// Puts a finished request back in the pool, while the queue runs. Loop thread.
    private func recycle(_ request: VirtqueueRequest) {
        guard isLive, !handlerStopped, pool.count < pool.capacity else { return }
        pool.append(request)
    }

    /// True when the driver has chains the device has not popped.
    public func hasAvailable() -> Bool {
        precondition(loop.isCurrent, "hasAvailable runs on the device's I/O thread")
        guard isLive else { return false }
        return (ring({ () throws(VirtqueueError) in try virtqueue.availableCount() }) ?? 0) > 0
    }

    /// Re-arms driver notifications (for devices that pop only when they have data) and
    /// returns true if chains are available now, in which case the caller should pop
    /// instead of waiting for a kick.
    public func enableNotifications() -> Bool {
        precondition(loop.isCurrent, "enableNotifications runs on the device's I/O thread")
        guard isLive else { return false }
        return ring({ () throws(VirtqueueError) in try virtqueue.enableNotifications() }) ?? false
    }

    /// Stops ``forEachRequest(_:)`` from taking chains until ``resume()``.
    public func pause() {
        precondition(loop.isCurrent, "pause runs on the device's I/O thread")
        isPaused = true
    }

    /// Clears a pause and serves the queue again. Any thread.
    public func resume() {
        // On the I/O thread directly: no closure to allocate.
        guard loop.isCurrent else {
            loop.execute { [self] in resumeNow() }
            return
        }
        resumeNow()
    }

    private func resumeNow() {
        guard isLive, !draining else { return }
        isPaused = false
        serve()
    }

    /// Runs `body` with used-buffer interrupts held back, then raises at most one (if the
    /// driver wants it). Nested batches coalesce into the outermost.
    public func batch(_ body: () -> Void) {
        precondition(loop.isCurrent, "batch runs on the device's I/O thread")
        batchDepth += 1
        body()
        batchDepth -= 1
        guard batchDepth == 0 else { return }
        if virtqueue.memory.isPoisoned {
            // A ring or buffer access faulted and read zeros: stop before trusting more.
            session.fail(.guestMemoryPoisoned)
            return
        }
        flushNotification()
    }

    // MARK: Loop-side machinery

    func start() {
        handler.start(self)
        let source = loop.watch(fd: kick.fd, for: .readable) { [self] _ in kicked() }
        session.track(source)
    }

    private func kicked() {
        kick.drain()
        if let idleSince { polling.kicked(after: ContinuousClock.now - idleSince) }
        guard isLive, !isPaused else { return }
        serve()
    }

    func serve() {
        guard isLive, !draining else { return }
        batch { handler.serve(self) }
    }

    /// First half of a stop: takes no more chains and has the handler release the requests
    /// it parked (each returns to the used ring with nothing written), while completions of
    /// requests in flight are still written. Loop thread.
    func drain() {
        draining = true
        isPaused = true
        stopHandler()
    }

    /// The queue stops for good (the session halts). Loop thread.
    func stop() { drain() }

    private func stopHandler() {
        guard !handlerStopped else { return }
        handlerStopped = true
        handler.stop(self)
        // Pooled requests refer to the queue: let both go.
        pool.removeAll()
    }

    /// Runs a ring operation; a violation fails the device and yields `nil`.
    private func ring<T>(_ op: () throws(VirtqueueError) -> T) -> T? {
        do { return try op() } catch {
            session.fail(.queue(index: index, error))
            return nil
        }
    }

    private func flushNotification() {
        guard pushedSinceCheck, isLive else { return }
        pushedSinceCheck = false
        if ring({ () throws(VirtqueueError) in try virtqueue.needsNotification() }) == true {
            session.interrupts.signalUsedBuffers(queue: index)
        }
    }

    // MARK: Completion (called by VirtqueueRequest)

    func finish(_ request: VirtqueueRequest, bytesWritten: UInt32, error: VirtioDeviceError?) {
        if loop.isCurrent {
            finishNow(head: request.head, bytesWritten: bytesWritten, error: error, request: request)
        } else {
            finishDeferred(head: request.head, bytesWritten: bytesWritten, error: error, request: request)
        }
    }

    /// Queues a completion for the I/O thread; completions arriving together are pushed in
    /// one batch with at most one interrupt.
    func finishDeferred(head: UInt16, bytesWritten: UInt32, error: VirtioDeviceError? = nil, request: VirtqueueRequest? = nil) {
        let first = deferred.withLock { list -> Bool in
            list.append(DeferredCompletion(head: head, bytesWritten: bytesWritten, error: error, request: request))
            return list.count == 1
        }
        guard first else { return }
        loop.execute { [self] in
            // The spare (empty) list goes under the lock, the pending one comes out: a swap
            // of storage, not a copy. Kept in a local, as a completion pushed in the batch
            // can run this again, nested.
            var list: [DeferredCompletion] = []
            swap(&list, &deferredDraining)
            deferred.withLock { swap(&$0, &list) }
            batch {
                for c in list { finishNow(head: c.head, bytesWritten: c.bytesWritten, error: c.error, request: c.request) }
            }
            list.removeAll(keepingCapacity: true)
            deferredDraining = list
        }
    }

    private func finishNow(head: UInt16, bytesWritten: UInt32, error: VirtioDeviceError?, request: VirtqueueRequest?) {
        guard isLive, Int(head) < outstanding.count, outstanding[Int(head)] else { return }
        outstanding[Int(head)] = false
        outstandingCount -= 1
        guard ring({ () throws(VirtqueueError) in try virtqueue.pushUsed(head: head, bytesWritten: bytesWritten) }) != nil else { return }
        if let request { recycle(request) }
        pushedSinceCheck = true
        if let error {
            session.fail(error)
            return
        }
        if batchDepth == 0 { flushNotification() }
    }

    func offload(_ request: VirtqueueRequest, _ work: @escaping @Sendable (VirtqueueRequest) -> Void) {
        guard let workers = session.workers else {
            preconditionFailure("VirtqueueService was created without worker threads; offload needs some")
        }
        let session = self.session
        session.offloads.begin()
        let accepted = workers.submit {
            defer { session.offloads.end() }
            // A job that starts after reset must not touch the (abandoned) guest buffers.
            guard session.isLive else { return }
            work(request)
        }
        if !accepted { session.offloads.end() }
    }

    // MARK: Timers and fd watches that end with the activation

    /// Watches `fd` on the I/O thread until the device stops (then it is cancelled).
    @discardableResult
    public func watch(fd: Int32, for conditions: FDConditions, _ handler: @escaping @Sendable (FDConditions) -> Void) -> EventSource {
        session.watch(fd: fd, for: conditions, handler)
    }

    /// Runs `handler` on the I/O thread after `delay` (again while it returns true), until
    /// the device stops.
    @discardableResult
    public func schedule(after delay: Duration, _ handler: @escaping @Sendable () -> Bool) -> EventSource {
        session.schedule(after: delay, handler)
    }
}
