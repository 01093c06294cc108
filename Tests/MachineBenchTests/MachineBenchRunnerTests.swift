import Foundation
import MachineBench
import SwiftdmTestSupport
import Testing

/// One round of every KVM scenario on this host: each side that can run here (KVM, QEMU,
/// SeaBIOS, a C compiler) produces its figures, each that cannot says why. Asserts what ran,
/// never how fast.
@Suite("KVM bench runner", .serialized)
struct MachineBenchRunnerTests {
    @Test("one round: every side that can run here measures every figure")
    func oneRound() throws {
        let swiftdm = try #require(SwiftdmExecutable.path)
        var options = MachineBenchOptions.defaults(quick: true, swiftdm: swiftdm)
        options.rounds = 1
        let report = MachineBenchRunner(options: options) { _ in }.run()
        #expect(report.rows.map(\.figure) == ["ms to MBR line", "peak RSS MiB", "port read µs", "MMIO read µs"])
        guard HostRequirements.kvm else {
            print("SKIP: MachineBenchRunnerTests measures nothing without /dev/kvm; checking the NOT RUN report")
            #expect(report.table.contains("KVM scenarios NOT RUN"))
            #expect(report.rows.allSatisfy { if case .notRun = $0.swiftdm { true } else { false } })
            return
        }
        let seaBIOS = options.seaBIOS != nil, qemu = options.qemu != nil
        for (i, row) in report.rows.enumerated() {
            let boots = i < 2
            if !boots || seaBIOS {
                #expect(row.swiftdm == .measured(row.swiftdm.values) && row.swiftdm.values.count == 1, "\(report.table)")
                #expect(row.swiftdm.values.allSatisfy { $0 > 0 }, "\(report.table)")
            }
            if qemu && (!boots || seaBIOS) {
                #expect(row.qemu.values.count == 1 && row.qemu.values.allSatisfy { $0 > 0 }, "\(report.table)")
            } else if case .notRun = row.qemu {
            } else {
                Issue.record("QEMU cannot run here, yet its side is not NOT RUN: \(report.table)")
            }
            if !boots && HostRequirements.gcc {
                #expect(row.limit?.values.count == 1, "\(report.table)")
            }
        }
    }
}
