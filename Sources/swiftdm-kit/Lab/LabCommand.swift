import ArgumentParser
import Foundation
import GuestKit

/// `swiftdm lab`: Linux on swiftdm's own KVM inside a QEMU TCG guest (GuestKit's ``NestedKVMLab``),
/// for hosts whose KVM cannot run it natively.
struct LabCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lab",
        abstract: "Run swiftdm on a hardware-style KVM nested inside QEMU TCG (for PVM or KVM-less hosts).",
        discussion: """
            L1 is the guest kit's kernel under qemu-system-x86_64 -accel tcg -cpu max with kvm-amd loaded; \
            it carries this swiftdm executable at \(LabPaths.swiftdm), the guest kit for L2 in \(LabPaths.l2KitDirectory) \
            and files you pass in /lab/files. Slow: ~12 s for L1, 25–40 s per L2 boot.
            """,
        subcommands: [LabShellCommand.self, LabRunCommand.self, LabCompareBootCommand.self, LabXenShellCommand.self])
}

/// Options shared by the lab's subcommands.
struct LabOptions: ParsableArguments {
    @Option(name: .customLong("kit"), help: ArgumentHelp("Guest kit directory (built if needed).", valueName: "DIR"))
    var kitDirectory: String = BuiltGuestKit.defaultDirectory

    @Option(name: .customLong("file"), help: ArgumentHelp("A host file copied into L1 as /lab/files/NAME; repeatable.", valueName: "path"))
    var files: [String] = []

    @Flag(name: .customLong("qemu"), help: "Also carry QEMU and its x86 firmware into L1 (\(LabPaths.qemu)), for comparisons.")
    var carryQEMU = false

    @Flag(name: .customLong("graphics"), help: "Also carry the graphics guest kit (virtio-gpu, virtio-input) into L1 (\(LabPaths.l2GraphicsKitDirectory)); lab run boots it.")
    var graphics = false

    @Option(name: .customLong("forward"), help: ArgumentHelp("Forward a free host port on 127.0.0.1 to this TCP port in L1 (such as a VNC server's 5900).", valueName: "port"))
    var forwardPort: Int?

    /// The lab in a fresh scratch directory (with QEMU when `carryingQEMU`), and the files to carry in.
    func lab(carryingQEMU: Bool? = nil) throws -> (NestedKVMLab, [NestedKVMScenario.File]) {
        if let forwardPort, !(1...65535).contains(forwardPort) { throw ValidationError("--forward \(forwardPort): expected a TCP port") }
        let builder = GuestKitBuilder(outputDirectory: kitDirectory) { HostOutput.standardError("guest-kit: \($0)\n") }
        let kit = try builder.build()
        let graphicsKit = graphics ? try builder.buildGraphics() : nil
        let work = try ScratchDirectory.create(prefix: "/tmp/swiftdm-lab-")
        let lab = try NestedKVMLab(kit: kit, swiftdm: SwiftdmRunGuest.currentExecutable, workDirectory: work, carryingQEMU: carryingQEMU ?? carryQEMU,
                                   graphicsKit: graphicsKit, forwardingTCPToL1Port: forwardPort) {
            HostOutput.standardError("lab: \($0)\n")
        }
        let files = self.files.map { NestedKVMScenario.File(hostPath: $0, name: URL(fileURLWithPath: $0).lastPathComponent) }
        return (lab, files)
    }
}

/// `swiftdm lab shell`: L1's shell on this terminal.
struct LabShellCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "shell", abstract: "Open a shell in L1 (leave with poweroff -f).")

    @OptionGroup var options: LabOptions

    func run() throws {
        let (lab, files) = try options.lab()
        defer { try? FileManager.default.removeItem(atPath: lab.workDirectory) }
        let status = try lab.shell(files: files)
        if status != 0 { throw ExitCode(status) }
    }
}

/// `swiftdm lab run`: one L2 boot of the guest kit on swiftdm in L1.
struct LabRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Boot the guest kit on swiftdm's KVM in L1, running COMMAND in L2; exits with swiftdm's status.",
        discussion: "Files given with --file become the L2 disks, in order. Arguments after -- are added to swiftdm run.")

    @OptionGroup var options: LabOptions

    @Option(help: ArgumentHelp("Shell script L2's /init runs.", valueName: "script"))
    var command: String = "cat /proc/cpuinfo | grep -c ^processor; dmesg | grep -i -E 'clocksource|kvm|unhandled' "

    @Option(help: ArgumentHelp("virtio transport: pci, pci-transitional or mmio.", valueName: "kind"))
    var transport: String = "pci"

    @Option(help: ArgumentHelp("vCPUs for L2.", valueName: "n"))
    var cpus: Int = 1

    @Option(help: ArgumentHelp("L1 kills swiftdm run after this many seconds.", valueName: "seconds"))
    var timeout: Int = 240

    @Argument(parsing: .postTerminator, help: "Extra swiftdm run arguments (L1 paths).")
    var extra: [String] = []

    func run() throws {
        guard let transport = SwiftdmRunGuest.Transport(rawValue: transport) else {
            throw ValidationError("--transport \(transport): expected pci, pci-transitional or mmio")
        }
        let (lab, files) = try options.lab()
        defer { try? FileManager.default.removeItem(atPath: lab.workDirectory) }
        var guest = SwiftdmRunGuest(swiftdm: SwiftdmRunGuest.currentExecutable, kit: lab.graphicsKit ?? lab.kit, command: command,
                                    transport: transport, cpus: cpus)
        if lab.graphicsKit != nil { guest.extraKernelArguments = DisplayProbe.kernelArguments }
        var scenario = NestedKVMScenario.guest(name: "lab-run", guest, disks: files, timeout: .seconds(max(timeout, 1)))
        scenario.commandLine += extra
        let run = try lab.run([scenario], echo: HostOutput.standardOutput)
        guard let result = run["lab-run"], let status = result.status else { throw ExitCode(1) }
        HostOutput.standardError("lab: L1 KVM ready at \(run.kvmReadyUptime ?? 0) s; swiftdm run exited \(status) after \(result.seconds ?? 0) s; \(String(format: "%.1f", run.wallSeconds)) s wall\n")
        if status != 0 { throw ExitCode(status) }
    }
}

/// `swiftdm lab compare-boot`: boot-to-power-off on swiftdm against QEMU q35 and microvm in L1.
struct LabCompareBootCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare-boot",
        abstract: "Time the guest kit's boot to power-off on swiftdm run, QEMU q35 and QEMU microvm, all on L1's KVM.",
        discussion: """
            Same kernel, initrd, command line, RAM, vCPUs and virtio-blk disk for each; rounds alternate the order. \
            Prints each contender's median and swiftdm's --timings lines (phases, exits, busiest addresses). \
            Exits 1 if a boot failed.
            """)

    @OptionGroup var options: LabOptions

    @Option(help: ArgumentHelp("Rounds; each boots every contender once.", valueName: "n"))
    var rounds: Int = 3

    @Flag(help: "Echo L1's console while it runs.")
    var verbose = false

    func run() throws {
        guard (1...50).contains(rounds) else { throw ValidationError("--rounds \(rounds): expected 1 to 50") }
        let (lab, _) = try options.lab(carryingQEMU: true)
        defer { try? FileManager.default.removeItem(atPath: lab.workDirectory) }
        let result = try NestedBootComparison(rounds: rounds).run(in: lab, echo: verbose ? HostOutput.standardOutput : nil)
        HostOutput.standardOutput(result.summary + "\n")
        if !result.failures.isEmpty { throw ExitCode(1) }
    }
}
