/// What a device does with one of its virtqueues. All methods run on the device's I/O
/// thread (its ``VirtqueueService/loop``), one at a time, so a handler's own state needs
/// no lock as long as only these callbacks and other loop callbacks touch it.
public protocol VirtqueueHandler: AnyObject, Sendable {
    /// The queue starts (device activation); called before the first ``serve(_:)``.
    func start(_ queue: ServedQueue)
    /// The driver may have made buffers available: a kick, the first pass after start, or
    /// ``ServedQueue/resume()``. Typical handlers call ``ServedQueue/forEachRequest(_:)``;
    /// devices that consume buffers only when they have data (console receive, net rx)
    /// call ``ServedQueue/popRequest()`` when they do.
    func serve(_ queue: ServedQueue)
    /// The device is stopping (reset or NEEDS_RESET): release parked requests and
    /// device-side resources of this queue. The queue no longer accepts completions.
    func stop(_ queue: ServedQueue)
}

extension VirtqueueHandler {
    public func start(_ queue: ServedQueue) {}
    public func stop(_ queue: ServedQueue) {}
}

/// Whether ``ServedQueue/forEachRequest(_:)`` hands out the next request.
public enum QueueFlow: Sendable {
    /// Continue with the next available chain.
    case proceed
    /// Stop taking chains (the device is waiting for the backend, tokens, an EAGAIN to
    /// clear) until ``ServedQueue/resume()``.
    case pause
}
