#if canImport(Glibc)
import Glibc
#endif

/// The host time sources the clock devices (RTC, ACPI PM timer) derive guest time from.
///
/// A protocol so tests can drive time by hand; the launcher uses ``SystemHostClock``.
public protocol HostClock: Sendable {
    /// Nanoseconds on a monotonic clock (arbitrary origin, never goes back).
    func monotonicNanoseconds() -> UInt64
    /// Nanoseconds since the Unix epoch, UTC (the wall clock).
    func realtimeNanoseconds() -> Int64
}

/// The host's `CLOCK_MONOTONIC` and `CLOCK_REALTIME`.
public struct SystemHostClock: HostClock {
    public init() {}

    /// `clock_gettime(CLOCK_MONOTONIC)`.
    public func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// `clock_gettime(CLOCK_REALTIME)`.
    public func realtimeNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) &* 1_000_000_000 &+ Int64(ts.tv_nsec)
    }
}
