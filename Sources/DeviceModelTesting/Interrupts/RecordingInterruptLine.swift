import DeviceModel
import Synchronization

/// An ``InterruptLine`` (GSI / INTx) that keeps its level and records every change of it.
///
/// Only changes are recorded: asserting an asserted line (a level-triggered device
/// re-evaluating its interrupt status) leaves no trace, while ``pulse()`` on a low line
/// records a rise and a fall. Each element of ``levelChanges`` is the level the line
/// changed to, so the number of `true` elements is the number of rising edges.
public final class RecordingInterruptLine: InterruptLine {
    /// The global system interrupt this line drives.
    public let gsi: UInt32
    /// The level after each change, oldest first (`true` = asserted).
    public let levelChanges = EventRecorder<Bool>()
    // The level; recording happens while holding it so the log's order is the line's order.
    private let level = Mutex<Bool>(false)
    private let failure = Mutex<InterruptError?>(nil)

    /// Creates a deasserted line for `gsi`.
    public init(gsi: UInt32) { self.gsi = gsi }

    /// Whether the line is currently asserted.
    public var isAsserted: Bool { level.withLock { $0 } }

    /// Number of low-to-high transitions so far.
    public var risingEdges: Int { levelChanges.all.count(where: { $0 }) }

    /// Sets the level; records it if it changed.
    public func setLevel(_ asserted: Bool) throws(InterruptError) {
        if let error = failure.withLock({ $0 }) { throw error }
        level.withLock { current in
            guard current != asserted else { return }
            current = asserted
            levelChanges.record(asserted)
        }
    }

    /// Raises then lowers the line, atomically with respect to other callers.
    public func pulse() throws(InterruptError) {
        if let error = failure.withLock({ $0 }) { throw error }
        level.withLock { current in
            if !current { levelChanges.record(true) }
            levelChanges.record(false)
            current = false
        }
    }

    /// Blocks until the line is at `asserted` or `timeout` passes; returns whether it is.
    public func wait(forLevel asserted: Bool, timeout: Duration) -> Bool {
        levelChanges.wait(timeout: timeout) { ($0.last ?? false) == asserted }
    }

    /// Blocks until at least `count` rising edges have happened or `timeout` passes.
    public func wait(forRisingEdges count: Int, timeout: Duration) -> Bool {
        levelChanges.wait(timeout: timeout) { $0.count(where: { $0 }) >= count }
    }

    /// From now on, ``setLevel(_:)`` and ``pulse()`` throw `error` and leave the line as it
    /// is; `nil` restores normal operation.
    public func failDeliveries(with error: InterruptError?) {
        failure.withLock { $0 = error }
    }
}
