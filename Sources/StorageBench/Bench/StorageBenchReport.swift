/// The storage half of `swiftdm bench`'s output: one table, a row per scenario and figure,
/// min and median per side over the rounds, and the ratio of the medians.
public struct StorageBenchReport: Sendable {
    /// One scenario's outcomes.
    public struct Row: Sendable {
        /// The scenario, and each side's rounds.
        public var scenario: BenchScenario
        public var swiftdm: BenchOutcome
        public var qsd: BenchOutcome
        /// Host fio beside the scenario (`nil`: not measured for this one).
        public var limit: BenchOutcome?
    }

    /// One line of the table: a figure, and how to read it.
    enum Figure: CaseIterable {
        case iops, bandwidth, mean, p50, p99

        var label: String {
            switch self {
            case .iops: "IOPS"
            case .bandwidth: "MB/s"
            case .mean: "lat mean µs"
            case .p50: "lat p50 µs"
            case .p99: "lat p99 µs"
            }
        }

        func value(_ m: BenchMeasurement) -> Double {
            switch self {
            case .iops: m.iops
            case .bandwidth: m.megabytesPerSecond
            case .mean: m.meanMicroseconds
            case .p50: m.p50Microseconds
            case .p99: m.p99Microseconds
            }
        }
    }

    /// The options the run used (for the notes under the table).
    public let options: StorageBenchOptions
    /// Whether qemu-storage-daemon ran with `aio=native,cache.direct=on` (else threads, buffered).
    public let qsdDirectIO: Bool
    /// One per scenario, in order.
    public var rows: [Row] = []

    /// An empty report for a run with `options`.
    public init(options: StorageBenchOptions, qsdDirectIO: Bool) {
        self.options = options
        self.qsdDirectIO = qsdDirectIO
    }

    /// The table as text (Markdown, so it reads in a terminal and pastes into BENCHMARKS.md).
    public var table: String {
        var lines = [
            "| scenario | figure | swiftdm min | swiftdm median | qsd min | qsd median | swiftdm/qsd | host fio (limit) median |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        var failures: [String] = []
        for row in rows {
            let figures: [Figure] = [row.scenario.reportsBandwidth ? .bandwidth : .iops, .mean, .p50, .p99]
            for f in figures {
                let a = Self.stats(row.swiftdm, f), b = Self.stats(row.qsd, f)
                let ratio = a.median.flatMap { x in b.median.map { y in y > 0 ? Self.format(x / y, digits: 2) + "×" : "–" } } ?? "–"
                let limit = row.limit.map { Self.stats($0, f).medianText } ?? ""
                lines.append("| \(row.scenario.name) | \(f.label) | \(a.minText) | \(a.medianText) | \(b.minText) | \(b.medianText) | \(ratio) | \(limit) |")
            }
            for (side, o) in [("swiftdm", row.swiftdm), ("qemu-storage-daemon", row.qsd), ("host fio", row.limit ?? .notInstalled)] {
                if case .failed(let why, _) = o { failures.append("\(row.scenario.name), \(side): \(why)") }
            }
        }
        let qsdMode = options.qemuStorageDaemon == nil ? "not installed"
            : qsdDirectIO ? "aio=native,cache.direct=on" : "aio=threads,cache.direct=off (no O_DIRECT on \(options.directory))"
        lines.append("")
        lines.append("\(options.rounds) rounds of \(Self.format(options.seconds)) s per side (after \(Self.format(options.warmupSeconds)) s warm-up), "
                     + "alternating swiftdm and qsd, each a fresh process on the same \(options.imageSize >> 20) MiB image in \(options.directory); "
                     + "qsd with \(qsdMode). Ratios are of medians: above 1 is better for IOPS and MB/s, below 1 for latency.")
        if options.qemuStorageDaemon == nil { lines.append("qemu-storage-daemon: not installed") }
        if options.fio == nil { lines.append("host fio: not installed") }
        for f in failures { lines.append("FAILED \(f)") }
        return lines.joined(separator: "\n")
    }

    /// One side's figures in a bench table (every `swiftdm bench` table prints these).
    public struct Stats: Sendable {
        public var min: Double?
        public var median: Double?
        /// What stands in for a figure there is none of ("–", "failed", "not run").
        public var missing: String
        public var minText: String { min.map { StorageBenchReport.format($0) } ?? missing }
        public var medianText: String { median.map { StorageBenchReport.format($0) } ?? missing }
    }

    static func stats(_ outcome: BenchOutcome, _ figure: Figure) -> Stats {
        let missing: String
        switch outcome {
        case .notInstalled: missing = "not installed"
        case .failed: missing = "failed"
        case .measured: missing = "–"
        }
        return stats(outcome.measurements.map(figure.value), missing: missing)
    }

    /// Min and median of `values`; `missing` stands in for both when there are none.
    public static func stats(_ values: [Double], missing: String) -> Stats {
        let values = values.sorted()
        guard !values.isEmpty else { return Stats(min: nil, median: nil, missing: missing) }
        let mid = values.count / 2
        let median = values.count % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2
        return Stats(min: values[0], median: median, missing: missing)
    }

    /// Three significant digits, thousands as `k`: 153k, 41.2k, 812, 23.4, 0.63.
    public static func format(_ v: Double, digits: Int? = nil) -> String {
        if let digits { return String(format: "%.\(digits)f", v) }
        if v >= 100_000 { return "\(Int((v / 1000).rounded()))k" }
        if v >= 10_000 { return String(format: "%.1fk", v / 1000) }
        if v >= 100 { return "\(Int(v.rounded()))" }
        if v >= 10 { return String(format: "%.1f", v) }
        return String(format: "%.2f", v)
    }
}
