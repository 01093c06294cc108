import DeviceModel
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Runs one device's virtqueues on the device's own I/O threads (never a vCPU thread), as
/// QEMU's IOThreads and netback's per-interface threads do: one thread by default, or
/// several, queue `i` on thread `i % queueThreads` (QEMU's `iothread-vq-mapping` round robin),
/// so that a multiqueue device's queues are served in parallel.
///
/// A device creates one service for its lifetime, calls ``start(_:handlers:)`` from
/// ``VirtioDevice/activate(_:)`` and ``stop()`` from ``VirtioDevice/reset()``. While
/// running, the service watches each queue's kick notifier and calls the queue's
/// ``VirtqueueHandler`` on that queue's thread; requests complete synchronously or later from
/// any thread (``VirtqueueRequest``); blocking I/O runs on the service's ``WorkerThreads``
/// through ``VirtqueueRequest/offload(_:)``. A ring violation or malformed request on any
/// queue stops every queue and reports `DEVICE_NEEDS_RESET` once through the activation's
/// interrupt sink.
///
/// The same runtime serves devices under every transport: virtio-mmio/pci pass ioeventfds as
/// kicks, vhost-user passes the frontend's kick fds.
public final class VirtqueueService: @unchecked Sendable {
    // SAFETY (@unchecked): each slot's `session` is read and written only on that slot's
    // loop thread (inside `sync`/callbacks); the other stored properties are immutable.
    /// The device's first I/O thread: device-level callbacks (fd watches, timers) belong
    /// here, and queue `0` runs on it.
    public var loop: EventLoop { slots[0].loop }
    /// Every I/O thread of the device, ``loop`` first.
    public var loops: [EventLoop] { slots.map(\.loop) }
    /// Threads for blocking work, if the device asked for any.
    public let workers: WorkerThreads?
    private let slots: [Slot]
    private let isShutDown = Atomic<Bool>(false)

    /// How long each queue watches its avail ring after a pass before sleeping on its kick.
    public let polling: AvailRingPolling

    /// The most I/O threads one device may have (as many as queues is the useful maximum).
    public static let maximumQueueThreads = 64

    /// One I/O thread and its part of the running activation.
    private final class Slot: @unchecked Sendable {
        // SAFETY (@unchecked): `session` is touched only on `loop`'s thread.
        let loop: EventLoop
        var session: ServiceSession?
        init(loop: EventLoop) { self.loop = loop }
    }

    /// Starts `queueThreads` I/O threads (the first named `name`, the others `name/1`, …) and,
    /// if `workerThreads > 0`, that many worker threads. `polling` is each queue's avail-ring
    /// polling after a pass (off by default: a polling thread trades a CPU for latency).
    public init(name: String, workerThreads: Int = 0, queueThreads: Int = 1,
                polling: AvailRingPolling = .off) throws(VirtioDeviceError) {
        guard (1...Self.maximumQueueThreads).contains(queueThreads) else {
            throw .host(what: "\(name): \(queueThreads) I/O threads, expected 1...\(Self.maximumQueueThreads)", errno: 0)
        }
        self.polling = polling
        var slots: [Slot] = []
        for k in 0..<queueThreads {
            let threadName = k == 0 ? name : "\(name)/\(k)"
            do { slots.append(Slot(loop: try EventLoop(name: threadName))) } catch {
                for s in slots { s.loop.shutdown() }
                throw .host(what: "cannot start I/O thread \(threadName): \(error)", errno: 0)
            }
        }
        self.slots = slots
        if workerThreads > 0 {
            do { workers = try WorkerThreads(name: "\(name)-io", count: workerThreads) } catch {
                for s in slots { s.loop.shutdown() }
                throw error
            }
        } else {
            workers = nil
        }
    }

    deinit { shutdown() }

    /// Which of ``loops`` serves queue `index`.
    public func threadIndex(forQueue index: Int) -> Int { index % slots.count }

    /// The I/O thread that serves queue `index` (for per-queue resources such as an
    /// io_uring whose completions that thread reaps).
    public func loop(forQueue index: Int) -> EventLoop { slots[threadIndex(forQueue: index)].loop }

    /// Serves `activation`'s queues: each enabled queue with a handler in `handlers` gets its
    /// kick watched on its thread and one initial ``VirtqueueHandler/serve(_:)`` pass. Queues
    /// without a handler are left alone. A running activation is stopped first. Returns once
    /// the queues are set up; call from any thread except the I/O threads' callbacks.
    public func start(_ activation: VirtioActivation, handlers: [Int: any VirtqueueHandler]) {
        precondition(!isShutDown.load(ordering: .acquiring), "start after shutdown")
        stop()
        let life = ActivationLife()
        let bindings = activation.queues.sorted(by: { $0.index < $1.index })
        for (k, slot) in slots.enumerated() {
            slot.loop.sync { [self] in
                let session = ServiceSession(loop: slot.loop, interrupts: activation.interrupts, workers: workers, life: life)
                for binding in bindings where threadIndex(forQueue: binding.index) == k {
                    guard let handler = handlers[binding.index] else { continue }
                    session.queues.append(ServedQueue(binding: binding, features: activation.features,
                                                      session: session, handler: handler, polling: polling))
                }
                slot.session = session
                for q in session.queues { q.start() }
                for q in session.queues { q.serve() }
            }
        }
    }

    /// How long ``stop()`` waits for requests in flight before abandoning them.
    public static let drainTimeout: Duration = .seconds(2)

    /// Stops the running activation on every I/O thread. First no chain is popped any more
    /// and handlers release the requests they parked; then, for up to ``drainTimeout``, the
    /// requests in flight on all threads (offloaded jobs, queued ones included, asynchronous
    /// I/O such as io_uring operations (``VirtqueueRequest/beginAsynchronousIO()``), and
    /// completions from other threads) finish and their used entries are written — vhost-user's
    /// `GET_VRING_BASE`, a memory-table change and a state save rely on it: every chain counted
    /// in the ring position the device stopped at has its used entry. Then nothing is pushed
    /// and no interrupt raised any more, and stop still waits until no offloaded job or
    /// asynchronous I/O can touch guest memory. Idempotent; must not be called from an I/O
    /// thread or a worker thread.
    public func stop() {
        guard !isShutDown.load(ordering: .acquiring) else { return }
        let draining: [(Slot, ServiceSession)] = slots.compactMap { slot in
            slot.loop.sync {
                slot.session?.drain()
                return slot.session.map { (slot, $0) }
            }
        }
        guard let life = draining.first?.1.life else { return }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: Self.drainTimeout)
        while clock.now < deadline {
            let finished = draining.allSatisfy { slot, session in
                slot.loop.sync { session.outstandingRequests == 0 || !session.isLive }
            }
            if finished { break }
            usleep(1000)
        }
        for (slot, session) in draining {
            slot.loop.sync {
                if slot.session === session { slot.session = nil }
                session.halt()
            }
        }
        life.offloads.waitUntilIdle()
        // Let completions that were already posted run (and be ignored) before returning.
        for slot in slots { slot.loop.sync {} }
    }

    /// True while an activation is running and has not failed.
    public var isRunning: Bool {
        guard !isShutDown.load(ordering: .acquiring) else { return false }
        let first = slots[0]
        return first.loop.sync { first.session?.isLive ?? false }
    }

    /// Stops any activation, then the worker threads and the I/O threads. Idempotent.
    public func shutdown() {
        if currentSlot == nil { stop() }
        guard !isShutDown.exchange(true, ordering: .acquiringAndReleasing) else { return }
        workers?.shutdown()
        for s in slots { s.loop.shutdown() }
    }

    /// The slot whose thread is the calling thread, if any.
    private var currentSlot: Slot? { slots.first { $0.loop.isCurrent } }

    /// The running activation's queue `index`, for device-level code on that queue's I/O
    /// thread (``loop(forQueue:)``).
    public func queue(_ index: Int) -> ServedQueue? {
        let slot = slots[threadIndex(forQueue: index)]
        precondition(slot.loop.isCurrent, "queue(_:) is for the queue's I/O thread")
        guard let session = slot.session, session.isLive else { return nil }
        return session.queues.first { $0.index == index }
    }

    /// Reports a device-level driver error from one of the I/O threads: stops the activation
    /// and sets `DEVICE_NEEDS_RESET`.
    public func fail(_ error: VirtioDeviceError) {
        guard let slot = currentSlot else { preconditionFailure("fail(_:) is for the device's I/O threads") }
        slot.session?.fail(error)
    }

    /// Watches `fd` on the calling I/O thread until the running activation stops. Call on an
    /// I/O thread while running; returns `nil` when nothing is running.
    @discardableResult
    public func watch(fd: Int32, for conditions: FDConditions, _ handler: @escaping @Sendable (FDConditions) -> Void) -> EventSource? {
        guard let slot = currentSlot else { preconditionFailure("watch is for the device's I/O threads") }
        guard let session = slot.session, session.isLive else { return nil }
        return session.watch(fd: fd, for: conditions, handler)
    }

    /// A timer on the calling I/O thread that ends with the running activation (see
    /// ``watch(fd:for:_:)``).
    @discardableResult
    public func schedule(after delay: Duration, _ handler: @escaping @Sendable () -> Bool) -> EventSource? {
        guard let slot = currentSlot else { preconditionFailure("schedule is for the device's I/O threads") }
        guard let session = slot.session, session.isLive else { return nil }
        return session.schedule(after: delay, handler)
    }
}
