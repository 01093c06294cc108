/// What an input device accepts, so the router sends each event where the guest expects it.
public enum InputDeviceKind: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Keys (``InputEvent/key(code:pressed:)``).
    case keyboard
    /// Absolute position and buttons: what a VNC client's pointer maps onto one to one.
    case tablet
    /// Relative motion, buttons and wheel.
    case mouse

    public var description: String { rawValue }
}
