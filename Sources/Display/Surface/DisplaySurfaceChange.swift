/// What changed on a ``DisplaySurface``, as its observers hear it.
public enum DisplaySurfaceChange: Sendable, Equatable {
    /// A new mode: the surface is `width × height` and wholly redrawn (or it went dark: 0 × 0).
    case resized(width: Int, height: Int)
    /// Pixels inside this rectangle changed.
    case damaged(DisplayRect)
    /// The cursor's image or position changed.
    case cursor
}
