import Foundation
import Testing
import GuestKit

/// Linux on swiftdm's own KVM: needs `swiftdm`, the guest kit, and either a host KVM that runs
/// unmodified guests natively or QEMU for the nested-KVM lab (PVM and KVM-less hosts).
enum KVMLinuxHost {
    static let skipReason: String? = {
        guard LinuxGuestHost.swiftdm != nil else { return "the swiftdm executable is not next to the test bundle" }
        if case .failure(let reason) = LinuxGuestHost.kit { return "\(reason)" }
        if !HostVirtualization.runsUnmodifiedGuestsNatively && !HostCommand.exists("qemu-system-x86_64") {
            return "this host's KVM cannot run Linux natively (PVM or no /dev/kvm) and qemu-system-x86_64 for the nested-KVM lab is not installed"
        }
        return nil
    }()

    static let available: Bool = {
        if let skipReason { print("SKIP: Linux under swiftdm run --kernel: \(skipReason)") }
        return skipReason == nil
    }()
}

/// The Debian guest kit booted with `swiftdm run --kernel` on swiftdm's own KVM machine
/// (directly, or all scenarios in one boot of the nested-KVM lab; see ``KVMLinuxBench``).
@Suite(.enabled(if: KVMLinuxHost.available, "needs swiftdm, the guest kit, and a native KVM or QEMU (see the SKIP line)"), .serialized)
struct KVMRunLinuxTests {
    /// Modern virtio-pci: disk checksum, a write the host sees, virtio-rng, /dev/hvc0, kvm-clock, power-off → 0.
    @Test func modernPCIDiskRngConsole() throws {
        let o = try KVMLinuxBench.outcome("pci-modern")
        let run = o.run
        #expect(run.hostStatus == 0, "swiftdm run status \(String(describing: run.hostStatus)) (\(o.place)):\n\(run.console.suffix(3000))")
        #expect(run.exitStatus == 0, "\(run.console.suffix(3000))")
        #expect(run.reported("sha256") == o.writtenSHA256["source"])
        #expect(run.reported("write") == "ok")
        #expect(o.headAfterRun["target"] == "swiftdm-kvm-pci-pattern")
        #expect(run.reported("rng") == "32")
        #expect(run.reported("hvc") == "present")
        #expect(run.console.contains("swiftdm-hvc-line"), "the virtio console's output reaches stdout")
        #expect(run.reported("clocksource") == "kvm-clock", "KVM's paravirtual CPUID leaves reach the guest")
        // `--timings`: the guest init's boot-complete signal (port 0x3f0) splits the phases.
        #expect(run.console.contains("swiftdm run: timings: setup → vcpus started"), "\(run.console.suffix(400))")
        #expect(run.console.contains("vcpus started → boot complete") && run.console.contains("boot complete → guest stopped"))
        // L1's own KVM logs `Unhandled WRMSR(0xc0010007)` for the guest's PMU probe when the
        // (TCG) CPU under it has no PMU; that line is L1's (`l1-kernel:`), not the guest's.
        let unhandled = run.console.split(separator: "\n").filter { $0.contains("Unhandled") && !$0.hasPrefix("l1-kernel:") }
        #expect(unhandled.isEmpty, "the guest logs no unhandled MSR: \(unhandled)")
        print("BENCH: Debian guest kit on swiftdm run (pci, \(o.place)): ready at \(run.readyUptime.map { "\($0)" } ?? "?") s guest uptime, \(String(format: "%.1f", run.wallSeconds)) s")
    }

    /// Two vCPUs: the AP comes up through INIT/SIPI and the guest sees both.
    ///
    /// Known intermittent failure in the nested-KVM lab: in about a third of the boots one
    /// vCPU of a two-vCPU L2 triple-faults during boot (reported at the reset vector, since
    /// SVM's shutdown intercept resets the vCPU before KVM returns) or the boot stalls ("task
    /// swapper/0:1 blocked"); one-vCPU boots have not shown it. Not yet known whether swiftdm,
    /// L1's nested SVM or QEMU's TCG SVM is at fault; on a host with native KVM this must pass.
    @Test func twoVCPUs() throws {
        let o = try KVMLinuxBench.outcome("two-cpus")
        let check = {
            #expect(o.run.hostStatus == 0, "(\(o.place)):\n\(o.run.console.suffix(3000))")
            #expect(o.run.reported("cpus") == "2")
            #expect(o.run.reported("online") == "0-1")
        }
        if o.place == "host KVM" { check() } else { withKnownIssue("two-vCPU L2 boots in the nested lab fail intermittently", isIntermittent: true) { check() } }
    }

    /// virtio-mmio: disk checksum and a write the host sees.
    @Test func mmioDisk() throws {
        let o = try KVMLinuxBench.outcome("mmio")
        #expect(o.run.hostStatus == 0, "(\(o.place)):\n\(o.run.console.suffix(3000))")
        #expect(o.run.reported("sha256") == o.writtenSHA256["source"])
        #expect(o.run.reported("write") == "ok")
        #expect(o.headAfterRun["target"] == "swiftdm-kvm-mmio-pattern")
    }

    /// Transitional virtio-pci with a read-only disk: reads match, the write is refused and
    /// the image is unchanged.
    @Test func transitionalPCIReadOnlyDisk() throws {
        let o = try KVMLinuxBench.outcome("pci-transitional-readonly")
        #expect(o.run.hostStatus == 0, "(\(o.place)):\n\(o.run.console.suffix(3000))")
        #expect(o.run.reported("sha256") == o.writtenSHA256["source"])
        #expect(o.run.reported("ro") == "1")
        #expect(o.run.reported("write") == "refused")
        #expect(o.headAfterRun["source"] != "must-not-land")
    }

    /// virtio-net on a tap whose host side (L1 in the lab) has 10.77.0.1: the guest pings it and
    /// runs iperf3 against it both ways.
    @Test func netOnATapPingsAndCarriesIperf3() throws {
        let o = try KVMLinuxBench.outcome("net")
        #expect(o.run.hostStatus == 0, "(\(o.place)):\n\(o.run.console.suffix(3000))")
        #expect(o.run.reported("ping") == "ok", "\(o.run.commandOutput)")
        // iperf3 both ways between the tap's host side and the guest.
        let up = o.run.reported("iperf-up").flatMap(Double.init), down = o.run.reported("iperf-down").flatMap(Double.init)
        #expect((up ?? 0) > 0 && (down ?? 0) > 0, "\(o.run.commandOutput)")
        print("BENCH: virtio-net on a tap, swiftdm run (\(o.place)): guest→host \(up ?? 0) Mbit/s, host→guest \(down ?? 0) Mbit/s (iperf3, 3 s)")
    }

    /// A kernel panic (with `panic=-1 reboot=t`) ends the run with a non-zero status and one
    /// line saying why: pvpanic reports it before the kernel's triple-fault restart.
    @Test func panicEndsTheRunNonZero() throws {
        let o = try KVMLinuxBench.outcome("panic")
        #expect(o.run.hostStatus != nil && o.run.hostStatus != 0, "(\(o.place)):\n\(o.run.console.suffix(2000))")
        #expect(o.run.console.contains("Kernel panic"))
        #expect(o.run.console.contains("swiftdm run: the guest kernel panicked (pvpanic)") || o.run.console.contains("swiftdm run: vCPU"),
                "the panic or its triple fault is reported")
    }

    /// Without `panic=-1` a panicked kernel would halt forever: the pvpanic device (ACPI
    /// QEMU0001, port 0x505) ends the run with status 1.
    @Test func pvpanicEndsAHaltedPanic() throws {
        let o = try KVMLinuxBench.outcome("pvpanic")
        #expect(o.run.hostStatus == 1, "(\(o.place)):\n\(o.run.console.suffix(2000))")
        #expect(o.run.console.contains("QEMU0001"), "the pvpanic-mmio driver bound the DSDT's device")
        #expect(o.run.console.contains("swiftdm run: the guest kernel panicked (pvpanic)"))
    }

    /// A guest reboot (the kernel's own reset methods) ends the run with 0.
    @Test func rebootEndsTheRunWithZero() throws {
        let o = try KVMLinuxBench.outcome("reboot")
        #expect(o.run.hostStatus == 0, "(\(o.place)):\n\(o.run.console.suffix(2000))")
        #expect(o.run.console.contains("reboot"), "\(o.run.console.suffix(1000))")
    }
}
