/// One line of a real-Linux scenario's table: a row (a fio job, an iperf3 direction) and the
/// figure on it, such as "4k randread QD32" / "IOPS".
public struct GuestBenchFigure: Sendable, Hashable {
    /// What ran: "4k randread QD32", "guest→host".
    public var row: String
    /// What was measured, with its unit: "IOPS", "lat p50 µs", "Gbit/s".
    public var label: String

    /// The figure `label` of row `row`.
    public init(row: String, label: String) {
        self.row = row
        self.label = label
    }

    /// The figures of a fio job, in table order.
    public static let fioLabels = ["IOPS", "lat mean µs", "lat p50 µs", "lat p99 µs"]
    /// The figures of an iperf3 direction, in table order: the receiver's rate and the sender's
    /// TCP retransmissions.
    public static let iperfLabels = ["Gbit/s", "retransmits"]

    /// A fio job's figures (``fioLabels``) with their values in `m`.
    public static func fio(_ job: GuestFioJob, _ m: BenchMeasurement) -> [(GuestBenchFigure, Double)] {
        zip(fioLabels, [m.iops, m.meanMicroseconds, m.p50Microseconds, m.p99Microseconds]).map { (GuestBenchFigure(row: job.name, label: $0), $1) }
    }

    /// An iperf3 direction's figures (``iperfLabels``) on row `row`.
    public static func iperf(_ row: String, gigabitsPerSecond: Double, retransmits: Int) -> [(GuestBenchFigure, Double)] {
        zip(iperfLabels, [gigabitsPerSecond, Double(retransmits)]).map { (GuestBenchFigure(row: row, label: $0), $1) }
    }
}
