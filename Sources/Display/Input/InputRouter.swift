import Synchronization

/// Sends input from outputs to the guest's input devices by kind: keys to keyboards, positions
/// and buttons to tablets, and, when the machine has no tablet, pointer moves to mice as
/// relative motion (from the last absolute position, as QEMU does for a VNC client).
public final class InputRouter: Sendable {
    private struct State {
        var sinks: [any InputEventSink] = []
        var lastAbsolute: (x: Int32, y: Int32)?
    }
    private let state = Mutex(State())

    public init() {}

    /// Adds a device; events of its kind reach it from now on.
    public func attach(_ sink: any InputEventSink) {
        state.withLock { $0.sinks.append(sink) }
    }

    /// Removes a device attached earlier.
    public func detach(_ sink: any InputEventSink) {
        state.withLock { s in s.sinks.removeAll { $0 === sink } }
    }

    /// The kinds of the attached devices.
    public var attachedKinds: Set<InputDeviceKind> { state.withLock { Set($0.sinks.map(\.inputKind)) } }

    /// Routes one report of events.
    public func send(_ events: [InputEvent]) {
        let (sinks, relativeFromAbsolute) = state.withLock { s -> ([any InputEventSink], [InputEvent]) in
            var relative: [InputEvent] = []
            for e in events {
                guard case .absolute(let x, let y) = e else { continue }
                if let last = s.lastAbsolute { relative.append(.relative(dx: x - last.x, dy: y - last.y)) }
                s.lastAbsolute = (x, y)
            }
            return (s.sinks, relative)
        }
        let hasTablet = sinks.contains { $0.inputKind == .tablet }
        for sink in sinks {
            let mine: [InputEvent]
            switch sink.inputKind {
            case .keyboard:
                mine = events.filter { if case .key = $0 { true } else { false } }
            case .tablet:
                mine = events.filter {
                    switch $0 { case .absolute, .button, .wheel: true; default: false }
                }
            case .mouse:
                if hasTablet {
                    mine = events.filter { if case .relative = $0 { true } else { false } }
                } else {
                    // VNC positions are absolute: a mouse gets the motion between them, scaled
                    // down from the absolute range to roughly pixels.
                    let scaled = relativeFromAbsolute.compactMap { e -> InputEvent? in
                        guard case .relative(let dx, let dy) = e else { return nil }
                        let m = (dx / 16, dy / 16)
                        return m == (0, 0) ? nil : .relative(dx: m.0, dy: m.1)
                    }
                    mine = scaled + events.filter {
                        switch $0 { case .relative, .button, .wheel: true; default: false }
                    }
                }
            }
            if !mine.isEmpty { sink.receive(mine) }
        }
    }
}
