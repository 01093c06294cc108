import GuestKit
#if canImport(Glibc)
import Glibc
#endif

/// Runs the KVM machine scenarios of `swiftdm bench`, alternating the sides round by round:
///
/// - SeaBIOS to the MBR: `swiftdm run --firmware bios.bin --memory 64M --disk MBR` and QEMU
///   `-accel kvm -M pc -m 64 -bios bios.bin` with the same image as a virtio-blk disk, timed
///   from spawn to the boot sector's line on COM1; the same runs give each side's peak RSS.
/// - Exit cost: one firmware image doing 20 000 port reads, then 20 000 MMIO reads, on
///   `swiftdm run`, QEMU and a minimal C KVM loop, timed between the guest's COM1 lines.
///
/// A side that cannot run (no `/dev/kvm`, QEMU, SeaBIOS or C compiler) is reported as not run;
/// a failed run is reported in the table, never thrown.
public struct MachineBenchRunner {
    public let options: MachineBenchOptions
    /// Called with a line per step (the bench prints them on stderr).
    public let progress: (String) -> Void

    public init(options: MachineBenchOptions, progress: @escaping (String) -> Void) {
        self.options = options
        self.progress = progress
    }

    /// One side's figures over the rounds, until it fails.
    struct SideRecord {
        var values: [[Double]]
        var failure: String?
        var notRun: String?

        init(figures: Int, notRun: String? = nil) {
            values = Array(repeating: [], count: figures)
            self.notRun = notRun
        }

        var canRun: Bool { failure == nil && notRun == nil }

        func side(_ figure: Int) -> MachineBenchReport.Side {
            if let notRun { return .notRun(notRun) }
            if let failure { return .failed(failure, values[figure]) }
            return .measured(values[figure])
        }

        /// Runs `measure` unless the side is out; keeps its figures or its failure.
        mutating func record(_ measure: () throws(MachineBenchError) -> [Double]) {
            guard canRun else { return }
            do {
                let figures = try measure()
                for (i, v) in figures.enumerated() where i < values.count { values[i].append(v) }
            } catch {
                failure = error.description
            }
        }
    }

    /// Runs every scenario and returns the table.
    public func run() -> MachineBenchReport {
        var report = MachineBenchReport()
        let kvmProblem = BenchHost.kvmUnusableReason
        if let kvmProblem {
            let loud = "KVM scenarios NOT RUN: \(kvmProblem)"
            progress("swiftdm bench: \(loud)")
            report.notes.append(loud)
        }
        if options.qemu == nil {
            progress("swiftdm bench: qemu-system-x86_64 is not installed: QEMU's side of the KVM scenarios is NOT RUN")
            report.notes.append("qemu-system-x86_64: not installed, QEMU NOT RUN")
        }
        let work = options.directory + "/swiftdm-bench-kvm-\(getpid())"
        mkdir(work, 0o755)
        defer {
            for f in ["mbr.img", "exit-cost.bin", "kvm-loop", "kvm-loop.c"] { unlink(work + "/" + f) }
            rmdir(work)
        }
        bootToMBR(into: &report, work: work, kvmProblem: kvmProblem)
        exitCost(into: &report, work: work, kvmProblem: kvmProblem)
        let host = kvmProblem != nil ? "no usable KVM" : HostVirtualization.kvmIsPVM ? "KVM is PVM (nested; guest port and MMIO accesses emulated)" : "KVM"
        report.notes.append("\(options.rounds) rounds alternating swiftdm, QEMU (and the C loop), each a fresh process; \(host). "
                            + "Every figure here is better lower: ratios below 1 favour swiftdm.")
        return report
    }

    /// SeaBIOS to the boot sector's line, and the peak RSS of the same runs.
    func bootToMBR(into report: inout MachineBenchReport, work: String, kvmProblem: String?) {
        let reason = kvmProblem ?? (options.seaBIOS == nil ? "no SeaBIOS (/usr/share/seabios/bios.bin: apt-get install seabios)" : nil)
        var swiftdm = SideRecord(figures: 2, notRun: reason)
        var qemu = SideRecord(figures: 2, notRun: reason ?? (options.qemu == nil ? "qemu-system-x86_64 not installed" : nil))
        let disk = work + "/mbr.img"
        if let bios = options.seaBIOS, reason == nil {
            do throws(MachineBenchError) {
                try BenchHost.write(BenchGuestImages.mbrDisk(), to: disk)
            } catch {
                swiftdm.failure = error.description
                qemu.failure = error.description
            }
            let swiftdmCommand = [options.swiftdm, "run", "--firmware", bios, "--memory", "64M", "--disk", disk]
            let qemuCommand = [options.qemu ?? "qemu-system-x86_64", "-accel", "kvm", "-M", "pc", "-m", "64", "-bios", bios,
                               "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio",
                               "-drive", "file=\(disk),format=raw,if=virtio"]
            for round in 1...options.rounds {
                progress("swiftdm bench: SeaBIOS to MBR, round \(round)/\(options.rounds): swiftdm run, then QEMU")
                swiftdm.record { () throws(MachineBenchError) in try Self.bootFigures(swiftdmCommand) }
                qemu.record { () throws(MachineBenchError) in try Self.bootFigures(qemuCommand) }
            }
        }
        let scenario = "SeaBIOS to MBR, 64 MiB"
        report.rows.append(.init(scenario: scenario, figure: "ms to MBR line", swiftdm: swiftdm.side(0), qemu: qemu.side(0), limit: nil))
        report.rows.append(.init(scenario: scenario, figure: "peak RSS MiB", swiftdm: swiftdm.side(1), qemu: qemu.side(1), limit: nil))
        report.notes.append("SeaBIOS to MBR: `swiftdm run --firmware bios.bin --memory 64M --disk MBR` (virtio-blk, PCI) vs "
                            + "`qemu-system-x86_64 -accel kvm -M pc -m 64 -bios bios.bin -nodefaults -drive if=virtio` (virtio-blk-pci), "
                            + "from spawn to the boot sector's COM1 line; peak RSS is the same runs' VmHWM (/proc/PID/status, read until exit).")
    }

    /// Milliseconds to the MBR's line and peak RSS in MiB of one boot.
    static func bootFigures(_ command: [String]) throws(MachineBenchError) -> [Double] {
        let run = try BenchChildProcess.run(command, lastMarker: BenchGuestImages.mbrMarker, timeout: 120)
        guard let seconds = run.seconds(toLineContaining: BenchGuestImages.mbrMarker) else {
            throw .markerMissing(marker: BenchGuestImages.mbrMarker, command: command.joined(separator: " "), output: run.output)
        }
        return [seconds * 1000, Double(run.peakRSSKiB) / 1024]
    }

    /// Microseconds per port read and per MMIO read on each side.
    func exitCost(into report: inout MachineBenchReport, work: String, kvmProblem: String?) {
        var swiftdm = SideRecord(figures: 2, notRun: kvmProblem)
        var qemu = SideRecord(figures: 2, notRun: kvmProblem ?? (options.qemu == nil ? "qemu-system-x86_64 not installed" : nil))
        var loop = SideRecord(figures: 2, notRun: kvmProblem)
        let firmware = work + "/exit-cost.bin"
        if kvmProblem == nil {
            do throws(MachineBenchError) {
                try BenchHost.write(BenchGuestImages.exitCostFirmware(), to: firmware)
            } catch {
                swiftdm.failure = error.description
                qemu.failure = error.description
                loop.failure = error.description
            }
            do throws(MachineBenchError) {
                if try MinimalKVMLoop.build(in: work) == nil {
                    loop.notRun = "no C compiler (cc, gcc, clang)"
                    progress("swiftdm bench: no C compiler: the minimal C KVM loop is NOT RUN")
                }
            } catch {
                loop.failure = error.description
            }
            let commands = [
                [options.swiftdm, "run", "--firmware", firmware, "--memory", "64M"],
                [options.qemu ?? "qemu-system-x86_64", "-accel", "kvm", "-M", "pc", "-m", "64", "-bios", firmware,
                 "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio",
                 "-device", "isa-debug-exit,iobase=0x501,iosize=1"],
                [work + "/kvm-loop", firmware],
            ]
            for round in 1...options.rounds {
                progress("swiftdm bench: exit cost, round \(round)/\(options.rounds): swiftdm run, QEMU, C KVM loop")
                swiftdm.record { () throws(MachineBenchError) in try Self.exitFigures(commands[0]) }
                qemu.record { () throws(MachineBenchError) in try Self.exitFigures(commands[1]) }
                loop.record { () throws(MachineBenchError) in try Self.exitFigures(commands[2]) }
            }
        }
        report.rows.append(.init(scenario: "exit cost", figure: "port read µs", swiftdm: swiftdm.side(0), qemu: qemu.side(0), limit: loop.side(0)))
        report.rows.append(.init(scenario: "exit cost", figure: "MMIO read µs", swiftdm: swiftdm.side(1), qemu: qemu.side(1), limit: loop.side(1)))
        report.notes.append("Exit cost: one 64 KiB firmware image (no BIOS) doing \(BenchGuestImages.exitCostAccessesPerPhase) reads of port 0x706, "
                            + "then \(BenchGuestImages.exitCostAccessesPerPhase) 32-bit reads of 0xD0001000 (nothing there on any side), "
                            + "timed between its COM1 lines; QEMU `-M pc -bios IMAGE -nodefaults`.")
    }

    /// Microseconds per port read and per MMIO read in one run of the exit-cost guest.
    static func exitFigures(_ command: [String]) throws(MachineBenchError) -> [Double] {
        let run = try BenchChildProcess.run(command, lastMarker: "P3", timeout: 120)
        let marks = ["P1", "P2", "P3"].map { m in run.lines.first { $0.text == m }?.seconds }
        guard let p1 = marks[0], let p2 = marks[1], let p3 = marks[2] else {
            throw .markerMissing(marker: "P1, P2, P3", command: command.joined(separator: " "), output: run.output)
        }
        let n = Double(BenchGuestImages.exitCostAccessesPerPhase)
        return [(p2 - p1) * 1e6 / n, (p3 - p2) * 1e6 / n]
    }
}
