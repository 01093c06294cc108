/// A token bucket: up to `capacity` tokens, refilled continuously at `capacity` per
/// `period` (Firecracker's and QEMU's rate limiters work this way). A device takes tokens
/// before serving and, when empty, waits on a loop timer for ``delay(untilAvailable:now:)``
/// instead of spinning.
public struct TokenBucket: Sendable {
    public let capacity: UInt64
    public let period: Duration
    private var tokens: Double
    private var last: ContinuousClock.Instant

    /// A full bucket. `capacity` and `period` must be positive (checked by the caller's
    /// configuration validation).
    public init(capacity: UInt64, period: Duration, now: ContinuousClock.Instant = .now) {
        precondition(capacity > 0 && period > .zero, "token bucket needs a positive rate")
        self.capacity = capacity
        self.period = period
        self.tokens = Double(capacity)
        self.last = now
    }

    private var tokensPerSecond: Double {
        let p = period.components
        return Double(capacity) / (Double(p.seconds) + Double(p.attoseconds) * 1e-18)
    }

    private mutating func refill(_ now: ContinuousClock.Instant) {
        guard now > last else { return }
        let e = (now - last).components
        let elapsed = Double(e.seconds) + Double(e.attoseconds) * 1e-18
        tokens = min(Double(capacity), tokens + elapsed * tokensPerSecond)
        last = now
    }

    /// Takes up to `wanted` whole tokens and returns how many were taken (possibly 0).
    public mutating func take(upTo wanted: UInt64, now: ContinuousClock.Instant = .now) -> UInt64 {
        refill(now)
        let taken = min(wanted, UInt64(tokens.rounded(.down)))
        tokens -= Double(taken)
        return taken
    }

    /// How long until `count` tokens (at most `capacity`) are available; zero if they are now.
    public mutating func delay(untilAvailable count: UInt64 = 1, now: ContinuousClock.Instant = .now) -> Duration {
        refill(now)
        let needed = Double(min(count, capacity)) - tokens
        guard needed > 0 else { return .zero }
        let seconds = needed / tokensPerSecond
        // Round up to the event loop's millisecond resolution so the timer never fires early.
        return .milliseconds(Int64((seconds * 1000).rounded(.up)))
    }
}
