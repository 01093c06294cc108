import DeviceModel
import Virtio

/// virtio-input's guest-visible state: the configuration selection the driver last wrote
/// (`select`, `subsel`), the keyboard LEDs it set through the statusq, and the events that
/// wait for eventq buffers — the rest of a report the guest has begun to receive, then whole
/// reports — so that a restored guest gets every key press and release it was owed, once.
///
/// Saving freezes delivery until the reset that follows it (a save is always followed by the
/// device's stop): an event handed to the guest after the record was taken would otherwise
/// be both in the guest's ring and in the record. A device restarted from saved state
/// (``Virtio/VirtioActivation/continuesSavedState``) delivers nothing until its record is
/// loaded. Events an output sends between the save and the stop are not in the record.
extension VirtioInputDevice: DeviceStateful {
    static let stateKind = "virtio-input"

    public func saveState(id: String) -> DeviceStateRecord {
        var r = DeviceStateRecord(id: id, kind: Self.stateKind, version: 1)
        r.set("kind", string: configuration.kind.rawValue)
        let (select, subsel) = configSpace.selected
        r.set("select", select)
        r.set("subsel", subsel)
        // On the I/O thread, between two passes over the queues: a delivery or statusq pass in
        // progress would go on after the hold.
        let (status, events) = (self.status, self.events)
        let (leds, started, waiting) = service.loop.sync { () -> (UInt8, [VirtioInputEvent], [[VirtioInputEvent]]) in
            status.setHeld(true)
            let backlog = events.holdForSave()
            return (status.leds.rawValue, backlog.started, backlog.waiting)
        }
        r.set("leds", leds)
        r.set("report-lengths", array: ([started.count] + waiting.map(\.count)).map { UInt64($0) })
        r.set("events", bytes: (started + waiting.flatMap { $0 }).flatMap(\.bytes))
        return r
    }

    /// Loads `r` into a device the transport has just restarted (or one that is not running,
    /// whose record must then hold no events), and serves its queues again.
    public func restoreState(_ r: DeviceStateRecord) throws(DeviceStateError) {
        try r.expect(kind: Self.stateKind, versions: 1...1)
        let kind = try r.string("kind")
        guard kind == configuration.kind.rawValue else {
            throw r.invalid("kind", kind, expected: "\(configuration.kind), the kind of this device")
        }
        let select: UInt8 = try r.integer("select")
        let subsel: UInt8 = try r.integer("subsel")
        let ledBits: UInt8 = try r.integer("leds")
        let leds = InputLEDs(rawValue: ledBits)
        let possible: InputLEDs = capabilities.supports(type: Evdev.EventType.led, code: Evdev.LED.numLock)
            ? [.numLock, .capsLock, .scrollLock] : []
        guard possible.isSuperset(of: leds) else {
            throw r.invalid("leds", "0x\(String(ledBits, radix: 16))", expected: "LEDs a \(configuration.kind) has (0x\(String(possible.rawValue, radix: 16)))")
        }
        let limit = configuration.backlogLimit
        let lengths = try r.unsignedArray("report-lengths", max: UInt64(limit))
        guard let startedLength = lengths.first, lengths.count <= limit + 1 else {
            throw r.invalid("report-lengths", "\(lengths.count) entries", expected: "1 to \(limit + 1)")
        }
        let total = lengths.reduce(0) { $0 + Int($1) }
        guard total <= limit else { throw r.invalid("report-lengths", "\(total) events", expected: "at most the backlog of \(limit)") }
        let bytes = try r.bytes("events", count: total * VirtioInputEvent.size)
        var all: [VirtioInputEvent] = []
        all.reserveCapacity(total)
        for i in 0..<total {
            let start = i * VirtioInputEvent.size
            // Eight bytes always decode.
            guard let event = VirtioInputEvent(bytes: Array(bytes[start..<start + VirtioInputEvent.size])) else { continue }
            guard event == .synReport || capabilities.supports(type: event.type, code: event.code) else {
                throw r.invalid("events", "event \(i) (\(event))", expected: "events a \(configuration.kind) sends")
            }
            all.append(event)
        }
        // Every report the guest is owed ends with SYN_REPORT, or it would merge into the next.
        var reports: [[VirtioInputEvent]] = []
        var at = 0
        for (i, length) in lengths.enumerated() {
            let report = Array(all[at..<at + Int(length)])
            at += Int(length)
            if i == 0 && report.isEmpty { continue }
            guard !report.isEmpty, report.last == .synReport else {
                throw r.invalid("report-lengths", "report \(i) of \(length) events", expected: "reports ending with SYN_REPORT")
            }
            reports.append(report)
        }
        let started = startedLength == 0 ? [] : reports.removeFirst()
        guard events.isAccepting || total == 0 else {
            throw r.invalid("events", "\(total) events", expected: "none for a device the driver has not started")
        }
        configSpace.select(select, subsel: subsel)
        status.load(leds)
        if events.isAccepting {
            events.load(started: started, waiting: reports)
        }
        // Requests that waited for the record (the statusq's LED changes, the eventq's buffers).
        let service = self.service
        service.loop.execute {
            for index in [Self.eventQueue, Self.statusQueue] { service.queue(index)?.resume() }
        }
    }
}
