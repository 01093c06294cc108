/// An accelerator whose vCPUs can be paused and resumed while the machine runs (QMP `stop` and
/// `cont`): a capability of its own, since not every accelerator can.
public protocol PausableAccelerator: X86Accelerator {
    /// Stops every vCPU at a safe point and returns once none runs guest code.
    /// - Returns: false when the run had already ended or the vCPUs did not stop in time.
    func pause() -> Bool
    /// Lets the vCPUs run again; nothing happens when they were not paused.
    func resume()
    /// True from a ``pause()`` that stopped every vCPU until ``resume()``.
    var isPaused: Bool { get }
}
