/// Events waiting for eventq buffers: whole reports in arrival order, at most `limit`
/// events in all. A value type without locking; its owner serialises access.
///
/// When a report does not fit, the oldest reports the guest has not begun to receive are
/// dropped whole, so the guest never sees half a report merged into the next. The report
/// being handed out is finished first; if even then the new one does not fit (or it is
/// longer than `limit` by itself), the new one is dropped instead.
struct InputEventBacklog {
    /// The most events held.
    let limit: Int
    /// The rest of the report the guest has begun to receive.
    private var started: ArraySlice<VirtioInputEvent> = []
    /// Reports not begun, oldest first from `waitingHead` (a moving head keeps removal O(1)).
    private var waiting: [[VirtioInputEvent]] = []
    private var waitingHead = 0
    /// Events held (started and waiting).
    private(set) var count = 0
    /// Set while events are being dropped; cleared once the backlog drains.
    private var overflowing = false

    /// What an ``append(_:)`` gave up to stay within the limit.
    struct Overflow: Equatable {
        var droppedReports: Int
        var droppedEvents: Int
        /// True for the first drop since the backlog was last empty (log this one).
        var firstSinceDrained: Bool
    }

    init(limit: Int) { self.limit = limit }

    var isEmpty: Bool { count == 0 }

    /// Queues `report`, dropping whole reports if it does not fit; returns what was dropped.
    mutating func append(_ report: [VirtioInputEvent]) -> Overflow? {
        guard !report.isEmpty else { return nil }
        var droppedReports = 0
        var droppedEvents = 0
        if started.count + report.count > limit {
            // Even dropping every waiting report would not make room: drop the new one.
            droppedReports = 1
            droppedEvents = report.count
        } else {
            while count + report.count > limit, waitingHead < waiting.count {
                let oldest = waiting[waitingHead]
                waiting[waitingHead] = []
                waitingHead += 1
                count -= oldest.count
                droppedReports += 1
                droppedEvents += oldest.count
            }
            compact()
            waiting.append(report)
            count += report.count
        }
        guard droppedReports > 0 else { return nil }
        let first = !overflowing
        overflowing = true
        return Overflow(droppedReports: droppedReports, droppedEvents: droppedEvents, firstSinceDrained: first)
    }

    /// Takes the oldest event, starting the next report when the current one is done.
    mutating func popFirst() -> VirtioInputEvent? {
        if started.isEmpty {
            guard waitingHead < waiting.count else { return nil }
            started = waiting[waitingHead][...]
            waiting[waitingHead] = []
            waitingHead += 1
            compact()
        }
        guard let event = started.popFirst() else { return nil }
        count -= 1
        if count == 0 { overflowing = false }
        return event
    }

    /// What is held: the rest of the report the guest has begun to receive (possibly empty),
    /// then the reports not begun, oldest first.
    var contents: (started: [VirtioInputEvent], waiting: [[VirtioInputEvent]]) {
        (Array(started), Array(waiting[waitingHead...]))
    }

    /// Holds `started` (the rest of a report the guest has begun) and `waiting`, in place of
    /// what was held; the caller checked they fit within ``limit``.
    mutating func load(started: [VirtioInputEvent], waiting: [[VirtioInputEvent]]) {
        removeAll()
        self.started = started[...]
        self.waiting = waiting
        count = started.count + waiting.reduce(0) { $0 + $1.count }
    }

    /// Drops everything (device reset).
    mutating func removeAll() {
        started = []
        waiting = []
        waitingHead = 0
        count = 0
        overflowing = false
    }

    /// Reclaims the consumed front of `waiting` once it is at least half the array.
    private mutating func compact() {
        if waitingHead == waiting.count {
            waiting.removeAll(keepingCapacity: true)
            waitingHead = 0
        } else if waitingHead >= 32, waitingHead * 2 >= waiting.count {
            waiting.removeFirst(waitingHead)
            waitingHead = 0
        }
    }
}
