/// Reads one job's line of fio's `--output-format=terse --terse-version=3`: `;`-separated
/// fields, the read section from field 6 and the write section from field 47 (41 fields each:
/// KiB, KiB/s, IOPS, runtime, submission latency ×4, completion latency ×4, 20 completion
/// percentiles as `P%=µs` (of the total latency instead when the job ran with
/// `--lat_percentiles`, as ``GuestFioScript``'s do), total latency ×4 (min, max, mean,
/// deviation), bandwidth ×5). Latencies are in microseconds.
public enum FioTerseResult {
    /// Fields in each direction's section.
    static let sectionLength = 41
    /// 0-based index of the read and the write section.
    static let readSection = 5
    static let writeSection = readSection + sectionLength

    /// The figures of `line` for reads (or, with `writes`, writes): IOPS, MB/s (10^6 bytes),
    /// the total latency's mean and the 50th and 99th percentiles fio printed.
    ///
    /// - Throws: ``StorageBenchError/toolFailed(command:detail:)`` naming the line when it is
    ///   not a terse v3 line, reports an error, or lacks a figure.
    public static func parse(_ line: String, writes: Bool) throws(StorageBenchError) -> BenchMeasurement {
        let fields = line.split(separator: ";", omittingEmptySubsequences: false).map(String.init)
        func bad(_ why: String) -> StorageBenchError { .toolFailed(command: "fio in the guest", detail: "\(why): \(line.prefix(200))") }
        guard fields.count >= writeSection + sectionLength, fields[0] == "3" else { throw bad("not a terse v3 line") }
        guard fields[4] == "0" else { throw bad("fio reported error \(fields[4])") }
        let base = writes ? writeSection : readSection
        func number(_ offset: Int) -> Double? { Double(fields[base + offset]) }
        func percentile(_ p: String) -> Double? {
            fields[(base + 12)..<(base + 32)].first { $0.hasPrefix(p + "%=") }.flatMap { Double($0.dropFirst(p.count + 2)) }
        }
        guard let kibPerSecond = number(1), let iops = number(2), let mean = number(34),
              let p50 = percentile("50.000000"), let p99 = percentile("99.000000") else {
            throw bad("a figure is missing")
        }
        return BenchMeasurement(iops: iops, megabytesPerSecond: kibPerSecond * 1024 / 1e6, meanMicroseconds: mean,
                                p50Microseconds: p50, p99Microseconds: p99)
    }
}
