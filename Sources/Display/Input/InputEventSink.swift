/// A guest input device as outputs see it (virtio-input, or a PS/2 device). Called on the
/// output's thread; an implementation queues the events for the guest and returns.
public protocol InputEventSink: AnyObject, Sendable {
    /// What this device accepts.
    var inputKind: InputDeviceKind { get }
    /// One batch of events that belong together (a report: the guest sees a `SYN_REPORT`
    /// after it).
    func receive(_ events: [InputEvent])
}
