/// What one run of ``BlockLoadGenerator`` measured.
public struct LoadResult: Sendable {
    /// What ran.
    public var workload: BlockWorkload
    /// Requests completed (every one with status OK: a failed one ends the run with an error).
    public var requests: Int
    /// Data bytes moved.
    public var bytes: UInt64
    /// From the first submission to the last completion.
    public var elapsedNanoseconds: UInt64
    /// Per-request latency, submission (made available) to completion (seen in the used ring).
    public var latency: LatencyHistogram
    /// Times the generator slept on the call eventfd (fewer than requests when completions
    /// arrive in batches).
    public var interruptWaits: Int
    /// Bytes of read data checked against the ``DataPattern``.
    public var verifiedBytes: UInt64

    /// Elapsed seconds.
    public var seconds: Double { Double(elapsedNanoseconds) / 1e9 }
    /// Requests per second.
    public var iops: Double { seconds > 0 ? Double(requests) / seconds : 0 }
    /// Data rate in MB/s (10^6 bytes, as fio prints).
    public var megabytesPerSecond: Double { seconds > 0 ? Double(bytes) / seconds / 1e6 : 0 }
    /// Mean, median and 99th-percentile latency in microseconds.
    public var meanMicroseconds: Double { latency.mean / 1000 }
    public var p50Microseconds: Double { Double(latency.percentile(0.5)) / 1000 }
    public var p99Microseconds: Double { Double(latency.percentile(0.99)) / 1000 }
}
