import Synchronization

/// What every I/O thread's part of one activation shares: whether it still runs, whether
/// `DEVICE_NEEDS_RESET` was reported, and the offloaded jobs a stop must wait for. A queue
/// failing on one thread stops the queues on all of them at once.
final class ActivationLife: Sendable {
    let live = Atomic<Bool>(true)
    private let needsResetReported = Atomic<Bool>(false)
    let offloads = OffloadCounter()

    var isLive: Bool { live.load(ordering: .acquiring) }

    /// True the first time only: the device reports NEEDS_RESET once per activation.
    func claimNeedsResetReport() -> Bool {
        !needsResetReported.exchange(true, ordering: .acquiringAndReleasing)
    }
}
