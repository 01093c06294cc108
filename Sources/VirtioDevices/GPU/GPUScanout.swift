import Display

/// One scanout's state: which resource it shows and which part of it.
struct GPUScanout {
    /// 0 while disabled.
    var resourceID: UInt32 = 0
    /// The part of the resource shown (the scanout's size is its size).
    var rect = DisplayRect(width: 0, height: 0)
    /// Host bytes of the display surface this scanout keeps alive (charged like resources).
    var surfaceBytes = 0
}
