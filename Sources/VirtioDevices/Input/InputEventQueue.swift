import DeviceModel
import Logging
import Synchronization
import Virtio

/// The eventq (queue 0, virtio 1.2 §5.8.6.1): reports from outputs wait in a bounded
/// ``InputEventBacklog`` and go to the driver one event per buffer, in order, whenever
/// buffers are available — right away, or after the driver's next kick.
///
/// Outputs call ``enqueue(_:)`` from their own threads; delivery runs on the device's I/O
/// thread, scheduled there at most once at a time. Buffers are taken only when an event
/// is ready, so a malformed one is found (and reported) when the device next has something
/// to deliver, as in QEMU.
final class InputEventQueue: VirtqueueHandler, @unchecked Sendable {
    // SAFETY (@unchecked): `queue` is touched only on `loop`'s thread (handler callbacks and
    // `deliver`, which `enqueue` schedules there); `pending` is behind its mutex;
    // `deliveryScheduled` is atomic; the rest is immutable.
    private struct Pending {
        /// False while the device is not activated: events then have no driver to go to,
        /// and stale key presses from before it bound would confuse it (QEMU drops them too).
        var accepting = false
        /// True while the backlog is frozen for a save, or waits for a saved one: nothing is
        /// delivered (see ``VirtioInputDevice``'s device state).
        var held = false
        var backlog: InputEventBacklog
    }

    private let loop: EventLoop
    private let logger: Logger
    private let backlogLimit: Int
    private let pending: Mutex<Pending>
    private let deliveryScheduled = Atomic<Bool>(false)
    private var queue: ServedQueue?

    init(loop: EventLoop, backlogLimit: Int, logger: Logger) {
        self.loop = loop
        self.logger = logger
        self.backlogLimit = backlogLimit
        pending = Mutex(Pending(backlog: InputEventBacklog(limit: backlogLimit)))
    }

    // MARK: Outputs (any thread)

    /// Queues one report (its last event is `SYN_REPORT`) and schedules delivery.
    func enqueue(_ report: [VirtioInputEvent]) {
        let (accepted, overflow) = pending.withLock { p -> (Bool, InputEventBacklog.Overflow?) in
            guard p.accepting else { return (false, nil) }
            return (true, p.backlog.append(report))
        }
        guard accepted else { return }
        if let overflow, overflow.firstSinceDrained {
            logger.warning("virtio-input: the guest is not taking events; dropped \(overflow.droppedReports) report(s) (\(overflow.droppedEvents) events) beyond the backlog of \(backlogLimit) events, and will keep dropping the oldest until it catches up")
        }
        guard !deliveryScheduled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        loop.execute { [self] in
            // Cleared before delivering: a report queued from now on schedules another pass.
            deliveryScheduled.store(false, ordering: .releasing)
            deliver()
        }
    }

    /// Starts taking events (activation); `held` delivers none until ``load(started:waiting:)``.
    func open(held: Bool) {
        pending.withLock { p in
            p.accepting = true
            p.held = held
        }
    }

    /// Stops taking events and drops those waiting (reset, after the queue stopped).
    func close() {
        pending.withLock { p in
            p.accepting = false
            p.held = false
            p.backlog.removeAll()
        }
    }

    /// True between activation and reset.
    var isAccepting: Bool { pending.withLock { $0.accepting } }

    /// The backlog for a save; nothing is delivered from now until the reset that follows,
    /// so what the guest receives stays what the saved backlog says it has not.
    func holdForSave() -> (started: [VirtioInputEvent], waiting: [[VirtioInputEvent]]) {
        pending.withLock { p in
            p.held = true
            return p.backlog.contents
        }
    }

    /// Loads a saved backlog (checked by the caller against ``backlogLimit``) ahead of the
    /// reports that arrived since activation, and delivers again.
    func load(started: [VirtioInputEvent], waiting: [[VirtioInputEvent]]) {
        pending.withLock { p in
            let arrived = p.backlog.contents
            p.backlog.load(started: started, waiting: waiting)
            for report in [arrived.started] + arrived.waiting where !report.isEmpty { _ = p.backlog.append(report) }
            p.held = false
        }
        loop.execute { [self] in deliver() }
    }

    /// Events waiting for buffers.
    var backlogCount: Int { pending.withLock { $0.backlog.count } }

    // MARK: Queue (I/O thread)

    func start(_ queue: ServedQueue) { self.queue = queue }

    func serve(_ queue: ServedQueue) { deliver() }

    func stop(_ queue: ServedQueue) { self.queue = nil }

    /// Writes waiting events into available buffers until either runs out.
    private func deliver() {
        guard let queue, queue.isLive, !pending.withLock({ $0.held }) else { return }
        queue.batch {
            while pending.withLock({ !$0.backlog.isEmpty }) {
                guard let request = queue.popRequest() else {
                    // Out of buffers: ask for a kick when the driver adds some, unless it
                    // added one in the meantime (§2.7.10).
                    if queue.enableNotifications() { continue }
                    return
                }
                let chain = request.chain
                guard chain.readableLength == 0 else {
                    request.fail("eventq buffer has \(chain.readableLength) device-readable bytes; event buffers must be device-writable (§5.8.6.1)")
                    return
                }
                guard chain.writableLength >= VirtioInputEvent.size else {
                    request.fail("eventq buffer of \(chain.writableLength) bytes is shorter than one \(VirtioInputEvent.size)-byte virtio_input_event (§5.8.6.1)")
                    return
                }
                // Taken only with a good buffer in hand: the backlog counts a report as begun
                // (never to be dropped) from its first event taken.
                guard let event = pending.withLock({ $0.backlog.popFirst() }) else {
                    // Only a reset empties the backlog, and it stops this queue first.
                    request.complete(bytesWritten: 0)
                    return
                }
                var writer = request.makeWriter()
                do { try writer.write(event.bytes) } catch {
                    request.fail("eventq buffer: \(error)")
                    return
                }
                request.complete(bytesWritten: VirtioInputEvent.size)
            }
        }
    }
}
