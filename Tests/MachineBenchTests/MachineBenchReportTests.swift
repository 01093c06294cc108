import Testing
@testable import MachineBench

@Suite("KVM bench report")
struct MachineBenchReportTests {
    @Test("min, median and the ratio of medians per row; sides not run and failures say so")
    func table() {
        var report = MachineBenchReport()
        report.rows.append(.init(scenario: "exit cost", figure: "port read µs", swiftdm: .measured([30, 20, 25]),
                                 qemu: .measured([10, 12.5, 11]), limit: .measured([9, 8, 10])))
        report.rows.append(.init(scenario: "SeaBIOS to MBR, 64 MiB", figure: "peak RSS MiB", swiftdm: .failed("no MBR line", [15]),
                                 qemu: .notRun("qemu-system-x86_64 not installed"), limit: nil))
        report.notes.append("a note")
        let lines = report.table.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[2] == "| exit cost | port read µs | 20.0 | 25.0 | 10.0 | 11.0 | 2.27× | 9.00 |")
        #expect(lines[3] == "| SeaBIOS to MBR, 64 MiB | peak RSS MiB | 15.0 | 15.0 | not run | not run | – |  |")
        #expect(lines.contains("a note"))
        #expect(lines.contains("FAILED SeaBIOS to MBR, 64 MiB, swiftdm: no MBR line"))
    }
}
