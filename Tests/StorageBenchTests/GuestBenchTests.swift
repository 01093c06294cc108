import Foundation
import GuestKit
import SwiftdmTestSupport
import Testing
@testable import StorageBench

/// The real-Linux scenarios' pieces that need no guest: what the guest is told to run, how its
/// report is read, and the table. (A real run boots a TCG guest per side and round, minutes in
/// all: `swiftdm bench --scenario linux-fio --scenario linux-iperf3` does that.)
@Suite("swiftdm bench real-Linux scenarios")
struct GuestBenchTests {
    /// fio 3.33's terse v3 lines for a read job and a write job (host runs, psync).
    static let readLine = "3;fio-3.33;4k-randread-qd1;0;0;1683756;1672051;418012;1007;0;0;0.000000;0.000000;0;20073;1.883844;123.802021;1.000000%=0;5.000000%=0;10.000000%=0;20.000000%=0;30.000000%=0;40.000000%=0;50.000000%=0;60.000000%=0;70.000000%=0;80.000000%=0;90.000000%=0;95.000000%=0;99.000000%=0;99.500000%=0;99.900000%=0;99.950000%=3;99.990000%=8028;0%=0;0%=0;0%=0;0;20073;1.929258;124.816230;1802721;1802721;100.000000%;1802721.000000;0.000000;0;0;0;0;0;0;0.000000;0.000000;0;0;0.000000;0.000000;1.000000%=0;5.000000%=0;10.000000%=0;20.000000%=0;30.000000%=0;40.000000%=0;50.000000%=0;60.000000%=0;70.000000%=0;80.000000%=0;90.000000%=0;95.000000%=0;99.000000%=0;99.500000%=0;99.900000%=0;99.950000%=0;99.990000%=0;0%=0;0%=0;0%=0;0;0;0.000000;0.000000;0;0;0.000000%;0.000000;0.000000;11.332008%;17.296223%;89;0;10;100.0%;0.0%;0.0%;0.0%;0.0%;0.0%;0.0%;99.94%;0.01%;0.02%;0.01%;0.01%;0.01%;0.00%;0.00%;0.00%;0.00%;0.01%;0.01%;0.01%;0.01%;0.01%;0.00%;0.00%;0.00%;0.00%;0.00%;0.00%;0.00%"
    static let writeLine = "3;fio-3.33;4k-randwrite-qd32;0;0;0;0;0;0;0;0;0.000000;0.000000;0;0;0.000000;0.000000;1.000000%=0;5.000000%=0;10.000000%=0;20.000000%=0;30.000000%=0;40.000000%=0;50.000000%=0;60.000000%=0;70.000000%=0;80.000000%=0;90.000000%=0;95.000000%=0;99.000000%=0;99.500000%=0;99.900000%=0;99.950000%=0;99.990000%=0;0%=0;0%=0;0%=0;0;0;0.000000;0.000000;0;0;0.000000%;0.000000;0.000000;909260;902043;225510;1008;0;0;0.000000;0.000000;0;32072;3.932795;162.751927;1.000000%=0;5.000000%=1;10.000000%=1;20.000000%=1;30.000000%=1;40.000000%=1;50.000000%=1;60.000000%=1;70.000000%=1;80.000000%=1;90.000000%=1;95.000000%=1;99.000000%=2;99.500000%=2;99.900000%=9;99.950000%=37;99.990000%=8093;0%=0;0%=0;0%=0;0;32072;4.133696;166.779666;872774;944000;100.000000%;908387.000000;50364.387597;6.554121%;29.195631%;100;0;10;100.0%;0.0%;0.0%;0.0%;0.0%;0.0%;0.0%;97.78%;1.97%;0.15%;0.03%;0.02%;0.01%;0.01%;0.00%;0.00%;0.00%;0.01%;0.01%;0.03%;0.01%;0.01%;0.00%;0.00%;0.00%;0.00%;0.00%;0.00%;0.00%"

    @Test("fio's terse v3 line: the read section for read jobs, the write section for write jobs")
    func terse() throws {
        let read = try FioTerseResult.parse(Self.readLine, writes: false)
        #expect(read.iops == 418012)
        #expect(read.meanMicroseconds == 1.929258)
        #expect(read.p50Microseconds == 0 && read.p99Microseconds == 0)
        #expect(abs(read.megabytesPerSecond - 1672051 * 1024 / 1e6) < 1e-6)
        let write = try FioTerseResult.parse(Self.writeLine, writes: true)
        #expect(write.iops == 225510)
        #expect(write.meanMicroseconds == 4.133696)
        #expect(write.p50Microseconds == 1 && write.p99Microseconds == 2)
    }

    @Test("lines that are not a good terse v3 report are refused, naming the line")
    func badTerse() {
        #expect(throws: StorageBenchError.self) { try FioTerseResult.parse("", writes: false) }
        #expect(throws: StorageBenchError.self) { try FioTerseResult.parse("2;fio-3.33;x;0;0", writes: false) }
        let failedJob = Self.readLine.replacingOccurrences(of: "4k-randread-qd1;0;0;", with: "4k-randread-qd1;0;5;")
        do {
            _ = try FioTerseResult.parse(failedJob, writes: false)
            Issue.record("a job that reported error 5 was read")
        } catch {
            #expect(error.description.contains("error 5"), "\(error)")
        }
        let noPercentile = Self.readLine.replacingOccurrences(of: "50.000000%=0;", with: "")
        #expect(throws: StorageBenchError.self) { try FioTerseResult.parse(noPercentile, writes: false) }
    }

    @Test("the guest's fio script runs every job on the disk, O_DIRECT, and reports each under its key")
    func fioScript() {
        let text = GuestFioScript(jobs: GuestFioJob.standard, seconds: 3, rampSeconds: 1).text
        for job in GuestFioJob.standard {
            #expect(text.contains("--name=\(job.key) --filename=/dev/vda --rw=\(job.readWrite) --bs=4096 --iodepth=\(job.queueDepth) --direct=1 --ioengine=$engine --runtime=3 --ramp_time=1"))
            #expect(text.contains("echo \"fio-\(job.key)=$(grep '^3;'"))
        }
        #expect(GuestFioJob.standard.map(\.key) == ["4k-randread-qd1", "4k-randread-qd32", "4k-randwrite-qd1", "4k-randwrite-qd32"])
        #expect(text.contains("--ioengine=io_uring") && text.contains("engine=libaio"))
    }

    @Test("the guest's iperf3 script steers the NIC's interrupts and pins the client when the bench places them, and only then")
    func iperfPlacement() throws {
        var options = GuestBenchOptions.defaults(quick: true, swiftdm: "/bin/true")
        let placement = try #require(options.iperfPlacement)
        #expect(placement.interruptCPU == 0 && placement.clientCPU == 1)
        let placed = IperfGuestScript(hostAddress: "10.0.0.1", guestAddress: "10.0.0.2", seconds: 3, placement: placement).text
        #expect(placed.contains("echo 1 > /proc/irq/$irq/smp_affinity"))
        #expect(placed.contains("$(ls $pcidev/msi_irqs 2>/dev/null)"))
        #expect(placed.components(separatedBy: "taskset -c 1 iperf3 -c 10.0.0.1 -t 3").count == 3, "both directions pinned:\n\(placed)")
        options.guestCPUs = 1
        #expect(options.iperfPlacement == nil)
        let free = IperfGuestScript(hostAddress: "10.0.0.1", guestAddress: "10.0.0.2", seconds: 3).text
        #expect(!free.contains("taskset") && !free.contains("smp_affinity"))
    }

    /// A console as the guest kit prints it: the ready marker, the command's lines, the exit marker.
    static func run(_ lines: [String], status: Int32 = 0) -> GuestRun {
        GuestRun(console: (["SeaBIOS", "\(GuestInit.readyMarker) uptime=7.5"] + lines + ["\(GuestInit.exitMarker) status=\(status) uptime=30.1"])
            .joined(separator: "\r\n"), wallSeconds: 35, hostStatus: 0)
    }

    @Test("one boot's report becomes one sample: four fio figures per job, two iperf3 figures per direction")
    func samples() throws {
        let jobs = [GuestFioJob(writes: false, queueDepth: 1), GuestFioJob(writes: true, queueDepth: 32)]
        let fioRun = Self.run(["fio-engine=io_uring", "fio-4k-randread-qd1-status=0", "fio-4k-randread-qd1=\(Self.readLine)",
                               "fio-4k-randwrite-qd32-status=0", "fio-4k-randwrite-qd32=\(Self.writeLine)"])
        let fio = try GuestBenchRunner.fioSample(fioRun, jobs: jobs)
        #expect(fio.count == 8)
        #expect(fio[GuestBenchFigure(row: "4k randread QD1", label: "IOPS")] == 418012)
        #expect(fio[GuestBenchFigure(row: "4k randwrite QD32", label: "lat p99 µs")] == 2)

        let iperfRun = Self.run(["up-status=0", "up-mbytes=1200", "up-mbits=3200", "up-retr=4",
                                 "down-status=0", "down-mbytes=600", "down-mbits=1600"])
        let iperf = try GuestBenchRunner.iperfSample(iperfRun)
        #expect(iperf[GuestBenchFigure(row: "guest→host", label: "Gbit/s")] == 3.2)
        #expect(iperf[GuestBenchFigure(row: "guest→host", label: "retransmits")] == 4)
        #expect(iperf[GuestBenchFigure(row: "host→guest", label: "Gbit/s")] == 1.6)
        #expect(iperf[GuestBenchFigure(row: "host→guest", label: "retransmits")] == 0)
    }

    @Test("a boot that reported nothing fails with the job, its status and the console's end")
    func missingResults() {
        let run = Self.run(["fio-4k-randread-qd1-status=1", "fio-4k-randread-qd1=", "fio: engine libaio not loadable"], status: 1)
        do {
            _ = try GuestBenchRunner.fioSample(run, jobs: [GuestFioJob(writes: false, queueDepth: 1)])
            Issue.record("a job without a result was read")
        } catch {
            #expect(error.description.contains("fio 4k randread QD1 in the guest: no result (status 1)"), "\(error)")
            #expect(error.description.contains("engine libaio not loadable"), "\(error)")
        }
        do {
            _ = try GuestBenchRunner.iperfSample(Self.run(["ping-status=1", "up-status=1"]))
            Issue.record("iperf3 without a result was read")
        } catch {
            #expect(error.description.contains("iperf3 guest→host in the guest: no result (status 1, ping status 1)"), "\(error)")
        }
    }

    @Test("the tables: min, median and the ratio of medians per figure; sides that did not run say so, loudly")
    func table() {
        var options = GuestBenchOptions.defaults(quick: true, swiftdm: "/x/swiftdm")
        options.fioJobs = [GuestFioJob(writes: false, queueDepth: 32)]
        options.qemuStorageDaemon = "/usr/bin/qemu-storage-daemon"
        var report = GuestBenchReport(options: options)
        report.fioEngine = "io_uring"
        report.wallSeconds = [.swiftdm: [30, 40, 50], .peer: [31]]
        func fio(_ iops: Double, _ lat: Double) -> GuestBenchSample {
            Dictionary(uniqueKeysWithValues: GuestBenchFigure.fio(options.fioJobs[0], BenchMeasurement(
                iops: iops, megabytesPerSecond: 0, meanMicroseconds: lat, p50Microseconds: lat, p99Microseconds: lat * 2)).map { ($0.0, $0.1) })
        }
        func iperf(_ up: Double, _ down: Double) -> GuestBenchSample {
            Dictionary(uniqueKeysWithValues: (GuestBenchFigure.iperf("guest→host", gigabitsPerSecond: up, retransmits: 0)
                + GuestBenchFigure.iperf("host→guest", gigabitsPerSecond: down, retransmits: 2)).map { ($0.0, $0.1) })
        }
        report.sections = [
            .init(scenario: .fio, swiftdm: .measured([fio(3000, 300), fio(1000, 900), fio(2000, 600)]),
                  peer: .failed("qsd died", [fio(4000, 250)])),
            .init(scenario: .iperf3, swiftdm: .measured([iperf(1.5, 2.0)]), peer: .notRun("needs root (network namespaces and taps)")),
        ]
        let table = report.table
        #expect(table.contains("| scenario | figure | swiftdm min | swiftdm median | qsd min | qsd median | swiftdm/qsd |"), "\(table)")
        #expect(table.contains("| 4k randread QD32 | IOPS | 1000 | 2000 | 4000 | 4000 | 0.50× |"), "\(table)")
        #expect(table.contains("| 4k randread QD32 | lat p99 µs | 600 | 1200 | 500 | 500 | 2.40× |"), "\(table)")
        #expect(table.contains("FAILED linux-fio, qemu-storage-daemon's vhost-user-blk export: qsd died"), "\(table)")
        #expect(table.contains("median wall time per boot: swiftdm 40 s, peer 31 s"), "\(table)")
        #expect(table.contains("ioengine io_uring"), "\(table)")
        #expect(table.contains("| swiftdm min | swiftdm median | QEMU min | QEMU median | swiftdm/QEMU |"), "\(table)")
        #expect(table.contains("| guest→host | Gbit/s | 1.50 | 1.50 | not run | not run | – |"), "\(table)")
        #expect(table.contains("NOT RUN linux-iperf3, QEMU's own virtio-net on the tap (-netdev tap,vhost=off): needs root"), "\(table)")
    }
}

@Suite("swiftdm bench real-Linux options",
       .enabled(if: SwiftdmExecutable.path != nil, "needs the swiftdm executable next to the test bundle (see the SKIP line)"))
struct GuestBenchCommandLineTests {
    @Test("--scenario knows the real-Linux scenarios; --guest-seconds must be at least 1")
    func options() throws {
        let unknown = try SwiftdmExecutable.run(["bench", "--scenario", "nope"], timeout: 60)
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("4k-randwrite-qd1-polled, linux-fio, linux-iperf3, kvm"), "\(unknown.stderr)")
        let zero = try SwiftdmExecutable.run(["bench", "--guest-seconds", "0"], timeout: 60)
        #expect(zero.status != 0)
        #expect(zero.stderr.contains("--guest-seconds must be at least 1"), "\(zero.stderr)")
        let help = try SwiftdmExecutable.run(["bench", "--help"], timeout: 60)
        #expect(help.stdout.contains("--no-guest"), "\(help.stdout)")
    }
}
