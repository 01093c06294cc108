/// One measurement of one side, reduced to the figures the table shows.
public struct BenchMeasurement: Sendable, Equatable {
    /// Requests per second and data rate (10^6 bytes per second).
    public var iops: Double
    public var megabytesPerSecond: Double
    /// Latency: mean, median and 99th percentile, in microseconds.
    public var meanMicroseconds: Double
    public var p50Microseconds: Double
    public var p99Microseconds: Double

    /// The figures as they are.
    public init(iops: Double, megabytesPerSecond: Double, meanMicroseconds: Double, p50Microseconds: Double, p99Microseconds: Double) {
        self.iops = iops
        self.megabytesPerSecond = megabytesPerSecond
        self.meanMicroseconds = meanMicroseconds
        self.p50Microseconds = p50Microseconds
        self.p99Microseconds = p99Microseconds
    }

    /// The figures of one load-generator run.
    public init(_ r: LoadResult) {
        self.init(iops: r.iops, megabytesPerSecond: r.megabytesPerSecond, meanMicroseconds: r.meanMicroseconds,
                  p50Microseconds: r.p50Microseconds, p99Microseconds: r.p99Microseconds)
    }

    /// The figures of one host fio run.
    public init(_ r: HostFio.Result) {
        self.init(iops: r.iops, megabytesPerSecond: r.megabytesPerSecond, meanMicroseconds: r.meanMicroseconds,
                  p50Microseconds: r.p50Microseconds, p99Microseconds: r.p99Microseconds)
    }
}

/// What one side of one scenario produced over the rounds.
public enum BenchOutcome: Sendable, Equatable {
    /// The tool is not on this host.
    case notInstalled
    /// A run failed; the measurements before it are kept.
    case failed(String, [BenchMeasurement])
    /// One measurement per round.
    case measured([BenchMeasurement])

    /// The measurements taken, whatever the outcome.
    public var measurements: [BenchMeasurement] {
        switch self {
        case .notInstalled: []
        case .failed(_, let m), .measured(let m): m
        }
    }

    mutating func append(_ m: BenchMeasurement) {
        switch self {
        case .notInstalled: break
        case .failed(let why, let ms): self = .failed(why, ms + [m])
        case .measured(let ms): self = .measured(ms + [m])
        }
    }
}
