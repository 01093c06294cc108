import DeviceModel
import Dispatch
import Synchronization

/// One I/O thread's part of a device activation on its ``VirtqueueService``: the queues
/// that thread serves, the fd watches and timers to cancel at stop. What all threads of the
/// activation share (liveness, offloaded jobs) is its ``ActivationLife``.
final class ServiceSession: @unchecked Sendable {
    // SAFETY (@unchecked): `queues`, `sources` and `halted` are touched only on `loop`'s
    // thread; `life` is atomic and internally locked.
    let loop: EventLoop
    let interrupts: any VirtioInterruptSink
    let workers: WorkerThreads?
    let life: ActivationLife
    var queues: [ServedQueue] = []
    private var sources: [EventSource] = []
    private var halted = false

    init(loop: EventLoop, interrupts: any VirtioInterruptSink, workers: WorkerThreads?, life: ActivationLife) {
        self.loop = loop
        self.interrupts = interrupts
        self.workers = workers
        self.life = life
    }

    /// False once any thread's part of the activation stopped or failed.
    var isLive: Bool { life.isLive }
    var offloads: OffloadCounter { life.offloads }

    func track(_ source: EventSource) {
        if halted { source.cancel() } else { sources.append(source) }
    }

    func watch(fd: Int32, for conditions: FDConditions, _ handler: @escaping @Sendable (FDConditions) -> Void) -> EventSource {
        precondition(loop.isCurrent, "watches are added on the device's I/O thread")
        let source = loop.watch(fd: fd, for: conditions) { [self] c in
            if isLive { handler(c) }
        }
        track(source)
        return source
    }

    func schedule(after delay: Duration, _ handler: @escaping @Sendable () -> Bool) -> EventSource {
        precondition(loop.isCurrent, "timers are added on the device's I/O thread")
        let source = loop.schedule(after: delay) { [self] in
            isLive ? handler() : false
        }
        track(source)
        return source
    }

    /// Requests popped and not yet in the used ring, over all queues. Loop thread.
    var outstandingRequests: Int { queues.reduce(0) { $0 + $1.outstandingCount } }

    /// Stops taking chains and releases parked requests, but keeps writing completions, so
    /// that what is in flight can finish before ``halt()``. Loop thread.
    func drain() {
        guard !halted else { return }
        for q in queues { q.drain() }
    }

    /// Stops the activation (on every thread: they share `life`): no more pops, pushes,
    /// interrupts or callbacks. Loop thread; the other threads' parts drop their queues
    /// and watches when the service stops them.
    func halt() {
        guard !halted else { return }
        halted = true
        life.live.store(false, ordering: .releasing)
        for s in sources { s.cancel() }
        sources = []
        for q in queues { q.stop() }
        // Each queue refers to its session; dropping the session's side of that cycle lets
        // both go — and with them the kick descriptors and the guest memory the queues hold.
        queues = []
    }

    /// A driver error the device cannot answer within the protocol: stop and report
    /// `DEVICE_NEEDS_RESET` (§2.1.2) once per activation, whichever thread failed first.
    /// Loop thread.
    func fail(_ error: VirtioDeviceError) {
        guard !halted else { return }
        halt()
        if life.claimNeedsResetReport() { interrupts.deviceNeedsReset(error) }
    }
}

/// Counts jobs running on worker threads for one activation, so reset can wait for them.
final class OffloadCounter: Sendable {
    private struct State {
        var count = 0
        var waiters: [DispatchSemaphore] = []
    }
    private let state = Mutex(State())

    func begin() { state.withLock { $0.count += 1 } }

    func end() {
        let waiters = state.withLock { s -> [DispatchSemaphore] in
            s.count -= 1
            guard s.count == 0 else { return [] }
            let w = s.waiters
            s.waiters = []
            return w
        }
        for w in waiters { w.signal() }
    }

    /// Blocks until no job is running or queued.
    func waitUntilIdle() {
        let semaphore = DispatchSemaphore(value: 0)
        let mustWait = state.withLock { s -> Bool in
            guard s.count > 0 else { return false }
            s.waiters.append(semaphore)
            return true
        }
        if mustWait { semaphore.wait() }
    }
}
