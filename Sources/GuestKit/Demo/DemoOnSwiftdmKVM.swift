import Foundation

extension DemoScenario {
    /// The demo on swiftdm's own KVM machine (`swiftdm run --kernel`), with swiftdm's
    /// virtio-blk, virtio-rng and virtio-console over virtio-pci — no QEMU and no vhost-user in
    /// the path. On this host's KVM when it runs unmodified guests natively; otherwise
    /// (`nested`) inside the nested-KVM lab, whose L1 holds the disk and checks it.
    func runOnSwiftdmKVM(kit: BuiltGuestKit, disk: DemoDisk, nested: Bool, report: (String) -> Void) throws {
        if nested {
            report("== swiftdm run on a nested KVM: this host's KVM cannot run Linux natively, so the nested-KVM lab boots "
                   + "Debian \(kit.kernelRelease) under QEMU TCG (-cpu max, kvm-amd) as L1, and swiftdm runs the guest on L1's KVM")
        } else {
            report("== swiftdm run (this host's KVM): Debian \(kit.kernelRelease) with virtio-blk, virtio-rng, virtio-console on virtio-pci")
        }
        let guest = SwiftdmRunGuest(swiftdm: swiftdm, kit: kit, command: """
            \(disk.writeAndReadBackScript)
            echo "hwrng=$(head -c 16 /dev/hwrng | hexdump -v -e '/1 "%02x"')"
            echo "cpus=$(grep -c ^processor /proc/cpuinfo)"
            echo "hello from $(uname -r) on swiftdm's virtio-console" > /dev/hvc0
            """, disks: nested ? [] : [disk.option(serial: "scratch")], rng: true, virtioConsole: true)
        let run: GuestRun
        let hostSHA: String
        if nested {
            (run, hostSHA) = try runInLab(guest, kit: kit, disk: disk, report: report)
        } else {
            run = try guest.run(echo: echo)
            hostSHA = try disk.hostSHA256()
        }
        guard run.hostStatus == 0, run.exitStatus == 0 else {
            throw GuestKitError.guestDidNotFinish(guest: "swiftdm run", status: run.hostStatus, console: run.console)
        }
        let consoleLine = run.console.contains("on swiftdm's virtio-console")
        report("   guest ready after \(run.readyUptime.map { String(format: "%.2f", $0) } ?? "?") s of guest uptime; powered off after \(String(format: "%.1f", run.wallSeconds)) s wall")
        report("   \(run.reported("cpus") ?? "?") vCPUs; guest wrote \(disk.workloadBytes >> 20) MiB to /dev/vda (serial \(run.reported("disk-serial") ?? "?"))")
        report("   write+fsync \(run.reported("write-seconds") ?? "?") s, read back \(run.reported("read-seconds") ?? "?") s (guest clock)")
        report("   guest sha256 \(run.reported("disk-sha256") ?? "?")")
        report("   \(nested ? "L1" : "host")  sha256 \(hostSHA) \(run.reported("disk-sha256") == hostSHA ? "(match)" : "(MISMATCH)")")
        report("   /dev/hwrng: \(run.reported("hwrng") ?? "?")")
        report("   /dev/hvc0: \(consoleLine ? "line received" : "nothing received")")
        var failed: [String] = []
        if run.reported("disk-sha256") != hostSHA { failed.append("disk checksum") }
        if run.reported("hwrng") == nil { failed.append("/dev/hwrng") }
        if !consoleLine { failed.append("/dev/hvc0 line") }
        guard failed.isEmpty else { throw GuestKitError.resultsMismatch(checks: failed) }
    }

    /// Runs `guest` in one L1 boot of the nested-KVM lab, on a sparse disk L1 creates (so no
    /// image is copied in) and hashes afterwards; returns the run and L1's hash.
    private func runInLab(_ guest: SwiftdmRunGuest, kit: BuiltGuestKit, disk: DemoDisk, report: (String) -> Void) throws -> (GuestRun, String) {
        let lab = try NestedKVMLab(kit: kit, swiftdm: swiftdm, workDirectory: disk.directory + "/lab")
        let image = LabPaths.file("scratch.img")
        var scenario = NestedKVMScenario.guest(name: "demo", guest, timeout: .seconds(300))
        scenario.commandLine += ["--disk", image + ",serial=scratch"]
        scenario.preparation = "mkdir -p \(LabPaths.file("")) && dd if=/dev/zero of=\(image) bs=1M count=0 seek=\(disk.mebibytes) 2>/dev/null"
        scenario.afterwards = "echo \"l1-sha256=$(head -c \(disk.workloadBytes) \(image) | sha256sum | cut -d' ' -f1)\""
        let labRun = try lab.run([scenario], echo: echo)
        guard let result = labRun["demo"] else {
            throw GuestKitError.guestDidNotFinish(guest: "nested-KVM lab", status: labRun.hostStatus, console: String(labRun.console.suffix(4000)))
        }
        report("   L1 ready (its KVM loaded) at \(labRun.kvmReadyUptime.map { String(format: "%.1f", $0) } ?? "?") s of L1 uptime; the lab took \(String(format: "%.1f", labRun.wallSeconds)) s wall")
        return (result.guest, result.reported("l1-sha256") ?? "?")
    }
}
