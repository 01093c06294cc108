/// How long a queue's I/O thread keeps watching the avail ring after a serve pass before it
/// goes back to sleep on the kick (QEMU's adaptive `poll-max-ns`, Cloud Hypervisor's
/// `poll_queue`): where waking a sleeping thread costs tens of microseconds, a request that
/// arrives within the window is taken at once, and the driver, seeing no notification
/// wanted, skips its kick too.
///
/// The window adapts between zero and ``limit`` as QEMU's `adjust_polling_time` does, on
/// each kick that came after the window ran out: if a window of ``limit`` would have caught
/// it, the window grows (doubling from 4 µs); if not, it halves, so a queue whose requests
/// come rarely soon stops spinning. A request the window catches changes nothing. An idle
/// queue spins at most one window after its last pass. A ``limit`` of zero turns polling off.
public struct AvailRingPolling: Sendable, Hashable {
    /// The longest window; `.zero` never polls.
    public let limit: Duration
    /// The window the next pass polls for.
    public private(set) var window: Duration = .zero

    /// The smallest window worth spinning for.
    static let minimumWindow: Duration = .microseconds(4)
    /// The longest window configurations accept (`poll-max-ns`): beyond it a thread spins
    /// longer than any wake-up costs.
    public static let maximumLimit: Duration = .milliseconds(1)

    /// Polling up to `limit` (negative means off). Configurations keep it within
    /// ``maximumLimit``; tests use longer ones to make a poll window certain.
    public init(limit: Duration) {
        self.limit = max(.zero, limit)
    }

    /// No polling.
    public static let off = AvailRingPolling(limit: .zero)

    /// A kick woke the thread `gap` after its ring last ran empty (the window, if any, ran
    /// out first: it is part of the gap).
    mutating func kicked(after gap: Duration) {
        guard limit > .zero else { return }
        if gap > limit {
            window = window / 2
            if window < Self.minimumWindow { window = .zero }
        } else if gap > window {
            window = window == .zero ? min(Self.minimumWindow, limit) : min(window * 2, limit)
        }
    }
}
