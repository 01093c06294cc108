import Foundation
import StorageBench
import SwiftdmTestSupport
import Testing

@Suite("swiftdm bench runner",
       .enabled(if: SwiftdmExecutable.path != nil, "needs the swiftdm executable next to the test bundle (see the SKIP line)"))
struct StorageBenchRunnerTests {
    @Test("one short round of every scenario fills the table for every installed side")
    func shortRun() throws {
        var options = StorageBenchOptions.defaults(quick: true)
        options.swiftdm = try #require(SwiftdmExecutable.path)
        options.rounds = 1
        options.seconds = 0.2
        options.warmupSeconds = 0
        options.imageSize = 64 << 20
        options.directory = try BackendExercise.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: options.directory) }
        let report = try StorageBenchRunner(options: options).run()
        let table = report.table
        print(table)
        #expect(report.rows.count == BenchScenario.standard.count)
        for row in report.rows {
            #expect(row.swiftdm.measurements.count == 1, "\(row.scenario.name): \(row.swiftdm)")
            if options.qemuStorageDaemon != nil {
                #expect(row.qsd.measurements.count == 1, "\(row.scenario.name): \(row.qsd)")
            } else {
                #expect(row.qsd == .notInstalled)
            }
            if let limit = row.limit {
                #expect(options.fio == nil ? limit == .notInstalled : limit.measurements.count == 1, "\(limit)")
            }
        }
        #expect(!table.contains("FAILED"), "\(table)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: options.directory).isEmpty, "image and sockets removed")
    }
}

@Suite("swiftdm bench command line",
       .enabled(if: SwiftdmExecutable.path != nil, "needs the swiftdm executable next to the test bundle (see the SKIP line)"))
struct BenchCommandLineTests {
    @Test("the launcher hands `bench` to swiftdm-kit, which checks its options")
    func forwarded() throws {
        let help = try SwiftdmExecutable.run(["bench", "--help"], timeout: 60)
        #expect(help.status == 0)
        #expect(help.stdout.contains("--image-size"), "\(help.stdout)\(help.stderr)")
        let refused = try SwiftdmExecutable.run(["bench", "--rounds", "2"], timeout: 60)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("--rounds must be at least 3"), "\(refused.stderr)")
    }
}
