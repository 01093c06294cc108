import Foundation
import Testing
@testable import swiftdm

/// The Debian guest kit booted with `swiftdm run --kernel` on swiftdm's own KVM machine, over
/// virtio-pci and over virtio-mmio. These need a host whose KVM runs unmodified guests natively
/// (VT-x/AMD-V): on a PVM host (/sys/module/kvm_pvm) every guest instruction is emulated and the
/// kernel does not get through its decompressor, so the tests skip with that reason.
enum KVMLinuxHost {
    static let skipReason: String? = {
        let fm = FileManager.default
        guard fm.isReadableFile(atPath: "/dev/kvm"), fm.isWritableFile(atPath: "/dev/kvm") else {
            return "swiftdm run needs a usable /dev/kvm"
        }
        if fm.fileExists(atPath: "/sys/module/kvm_pvm") {
            return "this host's KVM is PVM (/sys/module/kvm_pvm): unmodified Linux runs under instruction emulation and does not finish booting"
        }
        guard LinuxGuestHost.swiftdm != nil else { return "the swiftdm executable is not next to the test bundle" }
        if case .failure(let reason) = LinuxGuestHost.kit { return "\(reason)" }
        return nil
    }()

    static let available: Bool = {
        if let skipReason { print("SKIP: Linux under swiftdm run --kernel: \(skipReason)") }
        return skipReason == nil
    }()
}

@Suite(.enabled(if: KVMLinuxHost.available, "needs a hardware-virtualization KVM host and the guest kit (see the SKIP line)"), .serialized)
struct KVMRunLinuxTests {
    /// Disk checksum, a pattern the host verifies, virtio-rng, /dev/hvc0 and 2 vCPUs, on each transport.
    @Test(arguments: ["pci", "mmio"])
    func debianGuestOnSwiftdmKVM(transport: String) throws {
        let kit = try LinuxGuestHost.requireKit()
        let dir = try LinuxGuestHost.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let source = try TestImage.create(at: dir + "/source.img", size: 8 << 20, randomPrefix: 1 << 20)
        let target = try TestImage.create(at: dir + "/target.img", size: 1 << 20, randomPrefix: 0)
        let pattern = "swiftdm-kvm-\(transport)-pattern"
        let command = """
            echo "cpus=$(grep -c ^processor /proc/cpuinfo)"
            echo "sha256=$(head -c 1048576 /dev/vda | sha256sum | cut -d' ' -f1)"
            printf '\(pattern)' | dd of=/dev/vdb bs=512 conv=sync,fsync 2>/dev/null && echo "write=ok"
            echo "rng=$(head -c 32 /dev/hwrng | wc -c)"
            [ -c /dev/hvc0 ] && echo "hvc=present" && echo swiftdm-hvc-line > /dev/hvc0
            """
        var guest = SwiftdmRunGuest(kit: kit, command: command, transport: transport, swiftdm: LinuxGuestHost.swiftdm!)
        guest.disks = [source.path, target.path]
        guest.rng = true
        guest.virtioConsole = true
        let (run, status) = try guest.run(echo: LinuxGuestHost.echo)
        #expect(status == 0, "swiftdm run status \(String(describing: status)):\n\(run.console.suffix(3000))")
        #expect(run.exitStatus == 0, "\(run.console.suffix(3000))")
        #expect(run.reported("cpus") == "2")
        #expect(run.reported("sha256") == (try source.sha256(count: 1 << 20)))
        #expect(run.reported("write") == "ok")
        #expect(run.reported("rng") == "32")
        #expect(run.reported("hvc") == "present")
        #expect(run.console.contains("swiftdm-hvc-line"), "the virtio console's output reaches stdout")
        #expect(try target.read(offset: 0, count: pattern.utf8.count) == Data(pattern.utf8))
        print("BENCH: Debian guest kit on swiftdm run (\(transport)): ready at \(run.readyUptime.map { "\($0)" } ?? "?") s guest uptime, \(String(format: "%.1f", run.wallSeconds)) s wall")
    }

    /// A kernel panic ends the run with a non-zero status and one line saying why.
    @Test func panicEndsTheRunNonZero() throws {
        let kit = try LinuxGuestHost.requireKit()
        let guest = SwiftdmRunGuest(kit: kit, command: "echo c > /proc/sysrq-trigger", swiftdm: LinuxGuestHost.swiftdm!)
        let (run, status) = try guest.run(echo: LinuxGuestHost.echo)
        #expect(status != nil && status != 0, "\(run.console.suffix(2000))")
        #expect(run.console.contains("Kernel panic"))
        #expect(run.console.contains("swiftdm run: vCPU"), "the triple fault is reported")
    }
}
