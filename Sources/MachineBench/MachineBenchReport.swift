import Foundation
import StorageBench

/// The KVM half of `swiftdm bench`'s output: one table in the storage table's style, a row per
/// scenario and figure, min and median per side over the rounds, and the ratio of the medians.
/// Every figure here is better lower.
public struct MachineBenchReport: Sendable {
    /// What one side produced for one figure over the rounds.
    public enum Side: Sendable, Equatable {
        /// The side could not run at all (no KVM, QEMU or SeaBIOS, no C compiler): why.
        case notRun(String)
        /// A run failed; the values before it are kept.
        case failed(String, [Double])
        /// One value per round.
        case measured([Double])

        /// The values taken, whatever the outcome.
        public var values: [Double] {
            switch self {
            case .notRun: []
            case .failed(_, let v), .measured(let v): v
            }
        }
    }

    /// One line of the table.
    public struct Row: Sendable {
        public var scenario: String
        public var figure: String
        public var swiftdm: Side
        public var qemu: Side
        /// The minimal C KVM loop, where the scenario has one.
        public var limit: Side?
    }

    /// In table order.
    public var rows: [Row] = []
    /// Lines under the table: how each side ran, and loud NOT RUN lines.
    public var notes: [String] = []

    /// The table as Markdown, as the storage table is.
    public var table: String {
        var lines = [
            "| scenario | figure | swiftdm min | swiftdm median | QEMU min | QEMU median | swiftdm/QEMU | C KVM loop (limit) median |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        var failures: [String] = []
        for row in rows {
            let a = Self.stats(row.swiftdm), b = Self.stats(row.qemu)
            let ratio = a.median.flatMap { x in b.median.map { y in y > 0 ? StorageBenchReport.format(x / y, digits: 2) + "×" : "–" } } ?? "–"
            let limit = row.limit.map { Self.stats($0).medianText } ?? ""
            lines.append("| \(row.scenario) | \(row.figure) | \(a.minText) | \(a.medianText) | \(b.minText) | \(b.medianText) | \(ratio) | \(limit) |")
            for (side, o) in [("swiftdm", row.swiftdm), ("QEMU", row.qemu), ("C KVM loop", row.limit ?? .measured([]))] {
                if case .failed(let why, _) = o, !failures.contains(where: { $0.hasSuffix(why) }) {
                    failures.append("\(row.scenario), \(side): \(why)")
                }
            }
        }
        lines.append("")
        lines += notes
        lines += failures.map { "FAILED \($0)" }
        return lines.joined(separator: "\n")
    }

    static func stats(_ side: Side) -> StorageBenchReport.Stats {
        let missing: String
        switch side {
        case .notRun: missing = "not run"
        case .failed: missing = "failed"
        case .measured: missing = "–"
        }
        return StorageBenchReport.stats(side.values, missing: missing)
    }
}
