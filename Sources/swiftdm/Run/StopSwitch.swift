import KVMGlue
import Synchronization

/// Stops the run from anywhere — a device's machine event, a signal — even before the vCPUs
/// exist: a stop requested early is applied as soon as the runner is attached.
final class StopSwitch: Sendable {
    private let state = Mutex<(runner: VCPURunner?, pending: VMStopReason?)>((runner: nil, pending: nil))

    func attach(_ runner: VCPURunner) {
        let pending: VMStopReason? = state.withLock { s in
            s.runner = runner
            return s.pending
        }
        if let pending { runner.stop(pending) }
    }

    func stop(_ reason: VMStopReason) {
        let runner: VCPURunner? = state.withLock { s in
            if s.runner == nil, s.pending == nil { s.pending = reason }
            return s.runner
        }
        runner?.stop(reason)
    }
}
