import DeviceModel
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Runs one device's virtqueues on the device's own I/O thread (never a vCPU thread), as
/// QEMU's IOThreads and netback's per-interface threads do.
///
/// A device creates one service for its lifetime, calls ``start(_:handlers:)`` from
/// ``VirtioDevice/activate(_:)`` and ``stop()`` from ``VirtioDevice/reset()``. While
/// running, the service watches each queue's kick notifier and calls the queue's
/// ``VirtqueueHandler``; requests complete synchronously or later from any thread
/// (``VirtqueueRequest``); blocking I/O runs on the service's ``WorkerThreads`` through
/// ``VirtqueueRequest/offload(_:)``. A ring violation or malformed request stops the device
/// and reports `DEVICE_NEEDS_RESET` through the activation's interrupt sink.
///
/// The same runtime serves devices under every transport: virtio-mmio/pci pass ioeventfds as
/// kicks, vhost-user passes the frontend's kick fds.
public final class VirtqueueService: @unchecked Sendable {
    // SAFETY (@unchecked): `session` is read and written only on `loop`'s thread (inside
    // `loop.sync`/callbacks); the other stored properties are immutable.
    /// The device's I/O thread. Device callbacks (fd watches, timers) belong here.
    public let loop: EventLoop
    /// Threads for blocking work, if the device asked for any.
    public let workers: WorkerThreads?
    private var session: ServiceSession?
    private let isShutDown = Atomic<Bool>(false)

    /// How long each queue watches its avail ring after a pass before sleeping on its kick.
    public let polling: AvailRingPolling

    /// Starts the I/O thread `name` and, if `workerThreads > 0`, that many worker threads.
    /// `polling` is each queue's avail-ring polling after a pass (off by default: a polling
    /// thread trades a CPU for latency).
    public init(name: String, workerThreads: Int = 0, polling: AvailRingPolling = .off) throws(VirtioDeviceError) {
        self.polling = polling
        do { loop = try EventLoop(name: name) } catch {
            throw .host(what: "cannot start I/O thread \(name): \(error)", errno: 0)
        }
        if workerThreads > 0 {
            do { workers = try WorkerThreads(name: "\(name)-io", count: workerThreads) } catch {
                loop.shutdown()
                throw error
            }
        } else {
            workers = nil
        }
    }

    deinit { shutdown() }

    /// Serves `activation`'s queues: each enabled queue with a handler in `handlers` gets its
    /// kick watched and one initial ``VirtqueueHandler/serve(_:)`` pass. Queues without a
    /// handler are left alone. A running activation is stopped first. Returns once the
    /// queues are set up; call from any thread except the I/O thread's callbacks.
    public func start(_ activation: VirtioActivation, handlers: [Int: any VirtqueueHandler]) {
        precondition(!isShutDown.load(ordering: .acquiring), "start after shutdown")
        stop()
        loop.sync { [self] in
            let session = ServiceSession(loop: loop, interrupts: activation.interrupts, workers: workers)
            for binding in activation.queues.sorted(by: { $0.index < $1.index }) {
                guard let handler = handlers[binding.index] else { continue }
                session.queues.append(ServedQueue(binding: binding, features: activation.features,
                                                  session: session, handler: handler, polling: polling))
            }
            self.session = session
            for q in session.queues { q.start() }
            for q in session.queues { q.serve() }
        }
    }

    /// How long ``stop()`` waits for requests in flight before abandoning them.
    public static let drainTimeout: Duration = .seconds(2)

    /// Stops the running activation. First no chain is popped any more and handlers release
    /// the requests they parked; then, for up to ``drainTimeout``, the requests in flight
    /// (offloaded jobs, queued ones included, asynchronous I/O such as io_uring operations
    /// (``VirtqueueRequest/beginAsynchronousIO()``), and completions from other threads) finish and
    /// their used entries are written — vhost-user's `GET_VRING_BASE` and a memory-table
    /// change rely on it: every chain counted in the ring position the device stopped at has
    /// its used entry. Then nothing is pushed and no interrupt raised any more, and stop still
    /// waits until no offloaded job or asynchronous I/O can touch guest memory. Idempotent;
    /// must not be called from the I/O thread or a worker thread.
    public func stop() {
        guard !isShutDown.load(ordering: .acquiring) else { return }
        let draining: ServiceSession? = loop.sync { [self] in
            session?.drain()
            return session
        }
        guard let draining else { return }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: Self.drainTimeout)
        while clock.now < deadline {
            let finished = loop.sync { draining.outstandingRequests == 0 || !draining.live.load(ordering: .acquiring) }
            if finished { break }
            usleep(1000)
        }
        loop.sync { [self] in
            if session === draining { session = nil }
            draining.halt()
        }
        draining.offloads.waitUntilIdle()
        // Let completions that were already posted run (and be ignored) before returning.
        loop.sync {}
    }

    /// True while an activation is running and has not failed.
    public var isRunning: Bool {
        guard !isShutDown.load(ordering: .acquiring) else { return false }
        return loop.sync { [self] in session?.live.load(ordering: .acquiring) ?? false }
    }

    /// Stops any activation, then the worker threads and the I/O thread. Idempotent.
    public func shutdown() {
        if !loop.isCurrent { stop() }
        guard !isShutDown.exchange(true, ordering: .acquiringAndReleasing) else { return }
        workers?.shutdown()
        loop.shutdown()
    }

    /// The running activation's queue `index`, for device-level code on the I/O thread.
    public func queue(_ index: Int) -> ServedQueue? {
        precondition(loop.isCurrent, "queue(_:) is for the device's I/O thread")
        guard let session, session.live.load(ordering: .acquiring) else { return nil }
        return session.queues.first { $0.index == index }
    }

    /// Reports a device-level driver error from the I/O thread: stops the activation and
    /// sets `DEVICE_NEEDS_RESET`.
    public func fail(_ error: VirtioDeviceError) {
        precondition(loop.isCurrent, "fail(_:) is for the device's I/O thread")
        session?.fail(error)
    }

    /// Watches `fd` on the I/O thread until the running activation stops. Call on the I/O
    /// thread while running; returns `nil` when nothing is running.
    @discardableResult
    public func watch(fd: Int32, for conditions: FDConditions, _ handler: @escaping @Sendable (FDConditions) -> Void) -> EventSource? {
        precondition(loop.isCurrent, "watch is for the device's I/O thread")
        guard let session, session.live.load(ordering: .acquiring) else { return nil }
        return session.watch(fd: fd, for: conditions, handler)
    }

    /// A timer on the I/O thread that ends with the running activation (see ``watch(fd:for:_:)``).
    @discardableResult
    public func schedule(after delay: Duration, _ handler: @escaping @Sendable () -> Bool) -> EventSource? {
        precondition(loop.isCurrent, "schedule is for the device's I/O thread")
        guard let session, session.live.load(ordering: .acquiring) else { return nil }
        return session.schedule(after: delay, handler)
    }
}
