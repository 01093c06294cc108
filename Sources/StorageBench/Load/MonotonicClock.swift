#if canImport(Glibc)
import Glibc
#endif

/// Nanosecond timestamps for per-request latency: a `clock_gettime` through the vDSO, no
/// allocation and no syscall, which is what the generator's hot loop can afford.
enum MonotonicClock {
    /// `clock_gettime(CLOCK_MONOTONIC)` in nanoseconds.
    @inline(__always)
    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}
