import Foundation

/// A guest-kit guest on swiftdm's own KVM machine: `swiftdm run --kernel` as a child process,
/// with virtio devices from swiftdm itself (no QEMU, no vhost-user).
///
/// The kernel gets `panic=-1 reboot=t`: a panic restarts through a triple fault, which ends the
/// run non-zero, while `/init`'s `poweroff -f` (ACPI S5) ends it with status 0 — so
/// ``GuestRun/hostStatus`` tells a clean power-off from a crash.
public struct SwiftdmRunGuest: GuestRunner {
    /// How swiftdm presents its virtio devices (`swiftdm run --transport`).
    public enum Transport: String, Sendable, CaseIterable, CustomStringConvertible {
        /// Modern virtio-pci.
        case pci
        /// Transitional virtio-pci (legacy and modern interfaces).
        case pciTransitional = "pci-transitional"
        /// virtio-mmio.
        case mmio

        public var description: String { rawValue }
    }

    /// The `swiftdm` executable to run.
    public var swiftdm: String
    /// The kit whose kernel and initrd boot.
    public var kit: BuiltGuestKit
    /// Shell script for `/init` to run.
    public var command: String
    /// How the devices attach (`--transport`).
    public var transport: Transport
    /// `--disk` values, in order (the guest sees them as vda, vdb, …), such as `PATH,serial=ID`.
    public var disks: [String]
    /// `--rng`: the guest gets virtio-rng (`/dev/hwrng`).
    public var rng: Bool
    /// `--console virtio`: the guest also gets `/dev/hvc0` (on swiftdm's standard output).
    public var virtioConsole: Bool
    /// `--net` values, such as `tap=NAME` (the tap must exist or swiftdm must be allowed to create it).
    public var nets: [String] = []
    /// vCPUs (`--cpus`).
    public var cpus: Int
    /// Guest RAM as `swiftdm run --memory` spells it, such as `512M`.
    public var memory: String
    /// Kernel arguments deciding how a panic and a reboot end the run; `panic=-1 reboot=t`
    /// by default (see the type's description). Empty leaves the kernel's own choices (its
    /// reboot then goes through the ACPI reset register or the keyboard controller).
    public var shutdownArguments: [String] = ["panic=-1", "reboot=t"]
    /// Ask for the boot phases (`--timings`) on stderr at the end of the run.
    public var timings = false
    /// Appended to the kernel command line before the command (such as
    /// ``DisplayProbe/kernelArguments``).
    public var extraKernelArguments: [String] = []
    /// `swiftdm run` options appended as they are, for devices this type has no property for
    /// (such as `--gpu width=1024,height=768`, `--input keyboard`, `--vnc 0.0.0.0:0`).
    public var extraArguments: [String] = []
    /// Boot ``BuiltGuestKit/toolsInitrd`` (with `iperf3`, and `fio` on the host's kit) instead
    /// of the small initrd.
    public var useToolsInitrd = false
    /// Four minutes.
    public var defaultTimeout: Duration { .seconds(240) }

    /// A guest booting `kit` on the `swiftdm` executable at `swiftdm`, running `command`.
    public init(swiftdm: String, kit: BuiltGuestKit, command: String, transport: Transport = .pci,
                disks: [String] = [], rng: Bool = false, virtioConsole: Bool = false,
                cpus: Int = 2, memory: String = "512M") {
        self.swiftdm = swiftdm
        self.kit = kit
        self.command = command
        self.transport = transport
        self.disks = disks
        self.rng = rng
        self.virtioConsole = virtioConsole
        self.cpus = cpus
        self.memory = memory
    }

    /// The `swiftdm` launcher that started this program: `SWIFTDM_EXECUTABLE` (set when
    /// `swiftdm demo|lab|guest-kit` hands over to `swiftdm-kit`), else the running program
    /// (`/proc/self/exe`).
    public static var currentExecutable: String {
        if let launcher = ProcessInfo.processInfo.environment["SWIFTDM_EXECUTABLE"], !launcher.isEmpty { return launcher }
        return (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// The `swiftdm run` command line.
    public func commandLine() -> [String] {
        let append = ["console=ttyS0", "quiet"] + shutdownArguments + extraKernelArguments + [GuestInit.commandArgument(command)]
        var a = [swiftdm, "run", "--kernel", kit.kernel, "--initrd", useToolsInitrd ? (kit.toolsInitrd ?? kit.initrd) : kit.initrd, "--append", append.joined(separator: " "),
                 "--memory", memory, "--cpus", "\(cpus)", "--transport", transport.rawValue]
        for d in disks { a += ["--disk", d] }
        if rng { a.append("--rng") }
        if virtioConsole { a += ["--console", "virtio"] }
        for n in nets { a += ["--net", n] }
        if timings { a.append("--timings") }
        return a + extraArguments
    }
}
