import Foundation
import Testing
@testable import StorageBench

@Suite("swiftdm bench report")
struct StorageBenchReportTests {
    static func m(_ iops: Double, _ lat: Double) -> BenchMeasurement {
        BenchMeasurement(iops: iops, megabytesPerSecond: iops * 4096 / 1e6, meanMicroseconds: lat, p50Microseconds: lat, p99Microseconds: lat * 3)
    }

    @Test("min, median and the ratio of medians; missing peers say so")
    func table() {
        var options = StorageBenchOptions.defaults(quick: true)
        options.qemuStorageDaemon = nil
        options.fio = nil
        var report = StorageBenchReport(options: options, qsdDirectIO: true)
        let scenario = BenchScenario.standard[1]
        report.rows = [.init(scenario: scenario, swiftdm: .measured([Self.m(30_000, 10), Self.m(10_000, 30), Self.m(20_000, 20)]),
                             qsd: .notInstalled, limit: .notInstalled)]
        let table = report.table
        #expect(table.contains("| 4k randread QD32 | IOPS | 10.0k | 20.0k | not installed | not installed | – | not installed |"), "\(table)")
        #expect(table.contains("qemu-storage-daemon: not installed"))
        #expect(table.contains("host fio: not installed"))

        report.rows = [.init(scenario: scenario, swiftdm: .measured([Self.m(30_000, 10), Self.m(20_000, 20)]),
                             qsd: .failed("backend died", [Self.m(10_000, 40)]), limit: nil)]
        let second = report.table
        #expect(second.contains("| 4k randread QD32 | IOPS | 20.0k | 25.0k | 10.0k | 10.0k | 2.50× |  |"), "\(second)")
        #expect(second.contains("| 4k randread QD32 | lat mean µs | 10.0 | 15.0 | 40.0 | 40.0 | 0.38× |  |"), "\(second)")
        #expect(second.contains("FAILED 4k randread QD32, qemu-storage-daemon: backend died"))
    }

    @Test("sizes as --image-size takes them")
    func sizes() {
        #expect(StorageBenchOptions.parseSize("512M") == 512 << 20)
        #expect(StorageBenchOptions.parseSize("1g") == 1 << 30)
        #expect(StorageBenchOptions.parseSize("4096") == 4096)
        #expect(StorageBenchOptions.parseSize("x") == nil)
        #expect(StorageBenchOptions.parseSize("") == nil)
        #expect(StorageBenchOptions.parseSize("99999999999999G") == nil)
    }

    @Test("fio's JSON report is read; garbage is an error naming the command")
    func fioReport() throws {
        let json = """
            note: both iodepth >= 1 and synchronous I/O engine are selected
            {"jobs": [{"read": {"iops": 1234.5, "bw_bytes": 5056512, "lat_ns": {"mean": 25000.0},
              "clat_ns": {"percentile": {"50.000000": 20000, "99.000000": 90000}}}}]}
            """
        let r = try HostFio.parse(Data(json.utf8), command: "fio")
        #expect(r.iops == 1234.5 && r.meanMicroseconds == 25 && r.p50Microseconds == 20 && r.p99Microseconds == 90)
        #expect(throws: StorageBenchError.self) { try HostFio.parse(Data("nope".utf8), command: "fio") }
    }

    @Test("qemu-storage-daemon's command line doubles commas and falls back without O_DIRECT")
    func qsdCommand() {
        let direct = BlockBackendCommand.qemuStorageDaemon("qsd", image: "/a,b.img", socket: "/s.sock", directIO: true)
        #expect(direct.contains("driver=file,node-name=f,filename=/a,,b.img,aio=native,cache.direct=on"))
        let buffered = BlockBackendCommand.qemuStorageDaemon("qsd", image: "/i", socket: "/s", directIO: false)
        #expect(buffered.contains("driver=file,node-name=f,filename=/i,aio=threads,cache.direct=off"))
        #expect(buffered.last == "type=vhost-user-blk,id=e,node-name=d,addr.type=unix,addr.path=/s,writable=on,num-queues=1")
    }
}
