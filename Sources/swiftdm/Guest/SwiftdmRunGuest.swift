import Foundation

/// A guest-kit guest on swiftdm's own KVM machine: `swiftdm run --kernel` as a child process,
/// with virtio devices from swiftdm itself (no QEMU, no vhost-user).
///
/// The kernel gets `panic=-1 reboot=t`: a panic restarts through a triple fault, which ends the
/// run non-zero, while `/init`'s `poweroff -f` (ACPI S5) ends it with status 0.
struct SwiftdmRunGuest {
    var kit: BuiltGuestKit
    /// Shell script for `/init` to run.
    var command: String
    /// `--transport`: pci, pci-transitional or mmio.
    var transport = "pci"
    /// `--disk` values, in order (the guest sees them as vda, vdb, …).
    var disks: [String] = []
    var rng = false
    /// `--console virtio`: the guest also gets /dev/hvc0 (on swiftdm's stdout).
    var virtioConsole = false
    var cpus = 2
    var memory = "512M"
    /// The swiftdm executable to run (this one by default).
    var swiftdm = SwiftdmRunGuest.currentExecutable

    /// The running swiftdm binary.
    static var currentExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// True where swiftdm's KVM runs an unmodified kernel at full speed: a usable /dev/kvm that is
    /// not PVM (/sys/module/kvm_pvm), under which every guest instruction would be emulated.
    static var hostRunsGuestsNatively: Bool {
        let fm = FileManager.default
        return fm.isReadableFile(atPath: "/dev/kvm") && fm.isWritableFile(atPath: "/dev/kvm")
            && !fm.fileExists(atPath: "/sys/module/kvm_pvm")
    }

    var arguments: [String] {
        let append = ["console=ttyS0", "quiet", "panic=-1", "reboot=t", GuestInit.commandArgument(command)]
        var a = [swiftdm, "run", "--kernel", kit.kernel, "--initrd", kit.initrd, "--append", append.joined(separator: " "),
                 "--memory", memory, "--cpus", "\(cpus)", "--transport", transport]
        for d in disks { a += ["--disk", d] }
        if rng { a.append("--rng") }
        if virtioConsole { a += ["--console", "virtio"] }
        return a
    }

    /// Boots, runs the command, and returns what the guest printed (swiftdm's stderr included)
    /// and swiftdm's exit status (`nil` when it had to be killed at `timeout`).
    func run(timeout: Duration = .seconds(240), echo: (@Sendable (String) -> Void)? = nil) throws -> (run: GuestRun, status: Int32?) {
        let started = ContinuousClock.now
        let p = try ConsoleProcess(arguments, echo: echo)
        let finished = p.waitForExit(timeout: timeout)
        if !finished { p.kill() }
        let wall = ContinuousClock.now - started
        let run = GuestRun(console: p.output, wallSeconds: Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18)
        return (run, finished && !p.terminatedBySignal ? p.terminationStatus : nil)
    }
}
