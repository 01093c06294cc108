/// One input event from an output (a VNC client) to the guest's input devices, in Linux's
/// evdev terms, which virtio-input passes through unchanged (virtio 1.2 §5.8).
public enum InputEvent: Sendable, Hashable {
    /// A key (Linux `KEY_*` code, e.g. 30 for `KEY_A`) went down or up.
    case key(code: UInt16, pressed: Bool)
    /// A pointer button went down or up.
    case button(PointerButton, pressed: Bool)
    /// The pointer is at (`x`, `y`) in ``InputEvent/absoluteRange`` units across the screen.
    case absolute(x: Int32, y: Int32)
    /// The pointer moved by (`dx`, `dy`) (relative devices).
    case relative(dx: Int32, dy: Int32)
    /// The wheel turned by `steps` notches (positive away from the user).
    case wheel(steps: Int32)

    /// The range absolute coordinates span, 0...32767 (QEMU's `INPUT_EVENT_ABS_MAX`), so the
    /// guest scales them to whatever mode it runs.
    public static let absoluteRange: ClosedRange<Int32> = 0...0x7fff

    /// An absolute position for pixel (`x`, `y`) on a `width × height` screen.
    public static func absolute(pixelX x: Int, pixelY y: Int, width: Int, height: Int) -> InputEvent {
        func scale(_ v: Int, _ size: Int) -> Int32 {
            guard size > 1 else { return 0 }
            let clamped = min(max(v, 0), size - 1)
            return Int32(clamped * Int(absoluteRange.upperBound) / (size - 1))
        }
        return .absolute(x: scale(x, width), y: scale(y, height))
    }
}

/// Pointer buttons, with their Linux `BTN_*` codes.
public enum PointerButton: UInt16, Sendable, CaseIterable {
    case left = 0x110, right = 0x111, middle = 0x112, side = 0x113, extra = 0x114
}
