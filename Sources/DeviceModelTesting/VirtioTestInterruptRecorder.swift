import DeviceModel
import Synchronization

/// What the test driver needs to observe interrupts: the wired line's level and the MSI
/// messages delivered, plus a way to sleep until either changes.
public protocol VirtioTestInterruptObserver: AnyObject, Sendable {
    /// Whether the wired (INTx / virtio-mmio) line is asserted now.
    var lineAsserted: Bool { get }
    /// Every MSI message delivered so far, oldest first.
    var messages: [MSIMessage] { get }
    /// Blocks until interrupt activity (a line change or a message) or `timeoutMs`.
    func waitForActivity(timeoutMs: Int32)
}

/// Records a device's interrupts: use it as the transport's ``InterruptLine`` (virtio-mmio,
/// PCI INTx) and/or its ``MSIController`` (MSI-X), and hand it to ``VirtioTestDriver``.
public final class VirtioTestInterruptRecorder: InterruptLine, MSIController, VirtioTestInterruptObserver {
    private struct State {
        var level = false
        var assertions = 0
        var pulses = 0
        var messages: [MSIMessage] = []
    }
    private let state = Mutex(State())
    private let activity: EventNotifier

    public init() throws(EventNotifierError) {
        activity = try EventNotifier()
    }

    public func setLevel(_ asserted: Bool) throws(InterruptError) {
        state.withLock { s in
            if asserted && !s.level { s.assertions += 1 }
            s.level = asserted
        }
        try? activity.signal()
    }

    public func pulse() throws(InterruptError) {
        state.withLock { $0.pulses += 1 }
        try? activity.signal()
    }

    public func signal(_ message: MSIMessage) throws(InterruptError) {
        state.withLock { $0.messages.append(message) }
        try? activity.signal()
    }

    public var lineAsserted: Bool { state.withLock { $0.level } }
    /// Number of low → high transitions of the line.
    public var assertionCount: Int { state.withLock { $0.assertions } }
    /// Number of edge pulses.
    public var pulseCount: Int { state.withLock { $0.pulses } }
    public var messages: [MSIMessage] { state.withLock { $0.messages } }

    public func waitForActivity(timeoutMs: Int32) {
        _ = activity.wait(timeoutMs: timeoutMs)
    }
}
