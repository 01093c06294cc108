import Display

/// Turns one batch of output events into the evdev records a device sends: buttons as
/// `EV_KEY`, the wheel as `EV_REL`/`REL_WHEEL`, a position as `EV_ABS` X then Y, motion as
/// `EV_REL` X and Y, and `EV_SYN`/`SYN_REPORT` after the batch (what QEMU's
/// `virtio_input_handle_event` and `_sync` produce). Events of codes the device does not
/// advertise are left out, so a keyboard ignores pointer events and a tablet ignores
/// relative motion: the guest would drop them anyway.
struct InputEventEncoder: Sendable {
    let capabilities: InputCapabilities

    /// The records of `events` followed by `SYN_REPORT`; empty when none applies.
    func report(for events: [InputEvent]) -> [VirtioInputEvent] {
        var out: [VirtioInputEvent] = []
        for event in events { append(event, to: &out) }
        if !out.isEmpty { out.append(.synReport) }
        return out
    }

    private func append(_ event: InputEvent, to out: inout [VirtioInputEvent]) {
        typealias T = Evdev.EventType
        switch event {
        case .key(let code, let pressed):
            guard capabilities.supports(type: T.key, code: code) else { return }
            out.append(VirtioInputEvent(type: T.key, code: code, value: pressed ? 1 : 0))
        case .button(let button, let pressed):
            guard capabilities.supports(type: T.key, code: button.rawValue) else { return }
            out.append(VirtioInputEvent(type: T.key, code: button.rawValue, value: pressed ? 1 : 0))
        case .absolute(let x, let y):
            for (axis, value) in [(Evdev.AbsoluteAxis.x, x), (Evdev.AbsoluteAxis.y, y)] {
                guard capabilities.supports(type: T.absolute, code: axis),
                      let info = capabilities.axes[axis] else { continue }
                // The guest scales against the advertised range; keep values inside it.
                let clamped = min(max(value, info.minimum), info.maximum)
                out.append(VirtioInputEvent(type: T.absolute, code: axis, value: clamped))
            }
        case .relative(let dx, let dy):
            for (axis, value) in [(Evdev.RelativeAxis.x, dx), (Evdev.RelativeAxis.y, dy)] {
                // Linux ignores zero relative events; sending them would only cost buffers.
                guard value != 0, capabilities.supports(type: T.relative, code: axis) else { continue }
                out.append(VirtioInputEvent(type: T.relative, code: axis, value: value))
            }
        case .wheel(let steps):
            guard steps != 0, capabilities.supports(type: T.relative, code: Evdev.RelativeAxis.wheel) else { return }
            out.append(VirtioInputEvent(type: T.relative, code: Evdev.RelativeAxis.wheel, value: steps))
        }
    }
}
