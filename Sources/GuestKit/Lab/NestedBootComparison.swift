import Foundation

/// Boot-to-power-off of one Debian kernel, initrd and disk on `swiftdm run` and on QEMU's q35
/// and microvm machines, all with L1's KVM, in alternating order, as Firecracker measures boot
/// time: the device model's whole process, from exec to exit after the guest's power-off.
///
/// Every contender gets the same kernel command line (`console=ttyS0 quiet panic=-1` and the
/// kit's command), RAM, vCPUs and a raw disk on virtio-blk, and the guest reads the disk's first
/// MiB and prints its hash, so a contender that skipped the disk would show.
public struct NestedBootComparison: Sendable {
    /// A device model under test.
    public enum Contender: String, Sendable, CaseIterable, CustomStringConvertible {
        case swiftdm
        /// `qemu-system-x86_64 -M q35 -accel kvm -nodefaults` (SeaBIOS and linuxboot_dma.bin).
        case qemuQ35 = "qemu-q35"
        /// `qemu-system-x86_64 -M microvm -accel kvm -nodefaults` (qboot, virtio-mmio).
        case qemuMicrovm = "qemu-microvm"

        public var description: String { rawValue }
    }

    /// The guest's command: hash the disk's first MiB (then `/init` powers off).
    static let command = "echo disk-sha256=$(head -c 1048576 /dev/vda | sha256sum | cut -d' ' -f1)"
    static let diskName = "boot-compare.img"

    /// Rounds; each boots every contender once, starting with a different one each round.
    public var rounds: Int
    /// Guest RAM in MiB and vCPUs, the same for every contender.
    public var memoryMiB = 512
    public var cpus = 1
    /// L1 kills a boot that takes longer.
    public var timeout: Duration = .seconds(240)

    public init(rounds: Int = 3) { self.rounds = max(1, rounds) }

    /// The kernel command line every contender passes.
    static var append: String { "console=ttyS0 quiet panic=-1 " + GuestInit.commandArgument(command) }

    /// The command line L1 runs for `contender`.
    func commandLine(_ contender: Contender) -> [String] {
        let kernel = LabPaths.l2KitDirectory + "/vmlinuz", initrd = LabPaths.l2KitDirectory + "/initrd.img"
        let disk = LabPaths.file(Self.diskName)
        switch contender {
        case .swiftdm:
            return [LabPaths.swiftdm, "run", "--kernel", kernel, "--initrd", initrd, "--append", Self.append,
                    "--memory", "\(memoryMiB)M", "--cpus", "\(cpus)", "--disk", disk, "--timings"]
        case .qemuQ35, .qemuMicrovm:
            let q35 = contender == .qemuQ35
            return [LabPaths.qemu, "-accel", "kvm", "-cpu", "host", "-M", q35 ? "q35" : "microvm",
                    "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot",
                    "-m", "\(memoryMiB)", "-smp", "\(cpus)",
                    "-kernel", kernel, "-initrd", initrd, "-append", Self.append,
                    "-drive", "file=\(disk),if=none,id=disk0,format=raw",
                    "-device", (q35 ? "virtio-blk-pci" : "virtio-blk-device") + ",drive=disk0"]
        }
    }

    /// The lab scenarios, named `CONTENDER-ROUND`, with `disk` as the shared image. Round 0 is
    /// a warm-up, not counted: the first L2 boots after L1's own boot pay for QEMU's TCG
    /// translating L1's KVM and the device models' code, which would penalise whoever runs first.
    public func scenarios(disk: String) -> [NestedKVMScenario] {
        let all = Contender.allCases
        var list: [NestedKVMScenario] = []
        for round in 0...rounds {
            for i in all.indices {
                let contender = all[(i + round + all.count - 1) % all.count]
                list.append(NestedKVMScenario(
                    name: "\(contender)-\(round)", commandLine: commandLine(contender),
                    files: [.init(hostPath: disk, name: Self.diskName)], timeout: timeout))
            }
        }
        return list
    }

    /// Writes a 16 MiB disk whose first MiB is random, runs every boot in one L1 boot of
    /// `lab` (which must carry QEMU) and collects the times.
    public func run(in lab: NestedKVMLab, echo: (@Sendable (String) -> Void)? = nil) throws -> NestedBootComparisonResult {
        guard lab.carriesQEMU else { throw GuestKitError.labWithoutQEMU(workDirectory: lab.workDirectory) }
        let disk = lab.workDirectory + "/" + Self.diskName
        var random = SystemRandomNumberGenerator()
        var bytes = Data((0..<(1 << 20)).map { _ in UInt8.random(in: 0...255, using: &random) })
        bytes.append(Data(count: 15 << 20))
        guard FileManager.default.createFile(atPath: disk, contents: bytes) else { throw GuestKitError.cannotWrite(path: disk) }
        let run = try lab.run(scenarios(disk: disk), echo: echo)
        return NestedBootComparisonResult(run: run, rounds: rounds)
    }
}

/// The times of a ``NestedBootComparison``.
public struct NestedBootComparisonResult: Sendable {
    /// Each contender's boot-to-exit seconds, by round (boots that failed are left out).
    public let seconds: [NestedBootComparison.Contender: [Double]]
    /// Boots that did not exit 0 or printed a different disk hash, with why.
    public let failures: [String]
    /// swiftdm's `--timings` lines (phases, exits, busiest addresses), from its last boot.
    public let swiftdmTimings: [String]
    /// The whole L1 run.
    public let lab: NestedKVMLabRun

    init(run: NestedKVMLabRun, rounds: Int) {
        var seconds: [NestedBootComparison.Contender: [Double]] = [:]
        var failures: [String] = []
        var timings: [String] = []
        var hashes: Set<String> = []
        for contender in NestedBootComparison.Contender.allCases {
            for round in 1...rounds {
                let name = "\(contender)-\(round)"
                guard let r = run[name] else { failures.append("\(name): did not run"); continue }
                let hash = r.reported("disk-sha256")
                guard r.status == 0, let s = r.seconds, let hash else {
                    failures.append("\(name): status \(r.status.map { "\($0)" } ?? "none"), disk hash \(hash ?? "missing"):\n\(r.output.suffix(1500))")
                    continue
                }
                hashes.insert(hash)
                seconds[contender, default: []].append(s)
                if contender == .swiftdm {
                    timings = r.output.split(separator: "\n").filter { $0.hasPrefix("swiftdm run: ") }.map(String.init)
                }
            }
        }
        if hashes.count > 1 { failures.append("the contenders read different disk contents: \(hashes.sorted())") }
        self.seconds = seconds
        self.failures = failures
        self.swiftdmTimings = timings
        self.lab = run
    }

    /// The median of `contender`'s times.
    public func median(_ contender: NestedBootComparison.Contender) -> Double? {
        guard let s = seconds[contender]?.sorted(), !s.isEmpty else { return nil }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// swiftdm's median over the faster QEMU machine's median.
    public var ratioToFasterQEMU: Double? {
        guard let ours = median(.swiftdm) else { return nil }
        let theirs = [median(.qemuQ35), median(.qemuMicrovm)].compactMap { $0 }.min()
        return theirs.map { ours / $0 }
    }

    /// A few lines for a terminal or a closing note.
    public var summary: String {
        var lines = NestedBootComparison.Contender.allCases.map { c in
            let all = (seconds[c] ?? []).map { String(format: "%.2f", $0) }.joined(separator: " ")
            return "\(c): median \(median(c).map { String(format: "%.2f s", $0) } ?? "n/a") (runs: \(all.isEmpty ? "none" : all))"
        }
        if let r = ratioToFasterQEMU { lines.append(String(format: "swiftdm / faster QEMU = %.2f×", r)) }
        lines += swiftdmTimings
        lines += failures.map { "FAILED \($0)" }
        return lines.joined(separator: "\n")
    }
}
