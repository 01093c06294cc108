extension DemoScenario {
    /// The demo where the host cannot run unmodified guests natively: swiftdm's devices as
    /// `swiftdm vhost-user` backends, Debian's kernel under QEMU (TCG unless KVM is native) with
    /// the disk and virtio-rng, then user-mode Linux with the same disk and virtio-console.
    func runOnVhostUser(kit: BuiltGuestKit, disk: DemoDisk, report: (String) -> Void) throws {
        report("== swiftdm vhost-user backends")
        // A backend released early (a later one failed to start) is killed by its deinit.
        func serve(_ name: String, _ device: [String]) throws -> VhostUserBackendProcess {
            let backend = try VhostUserBackendProcess(swiftdm: swiftdm, socket: disk.directory + "/\(name).sock",
                                                      device: device, echo: echo)
            report("   swiftdm vhost-user \(device.joined(separator: " ")) on \(backend.socket) (pid \(backend.process.pid))")
            return backend
        }
        let consoleSocket = disk.directory + "/console-host.sock"
        let blkBackend = try serve("blk", ["--blk", disk.option(serial: "scratch")])
        let rngBackend = try serve("rng", ["--rng"])
        let consoleBackend = try serve("console", ["--console", "socket=\(consoleSocket)"])
        defer { for b in [blkBackend, rngBackend, consoleBackend] { b.terminate() } }
        let (blk, rng, console) = (blkBackend.socket, rngBackend.socket, consoleBackend.socket)

        // QEMU: write, sync, read back and checksum the disk; read /dev/hwrng.
        let accelerator = QemuAccelerator.preferred
        report("== QEMU \(accelerator.rawValue.uppercased()): Debian \(kit.kernelRelease) with vhost-user-blk-pci + vhost-user-rng-pci")
        let qemu = try QemuGuest(kit: kit, machine: .q35, devices: [.blk(socket: blk), .rng(socket: rng)], command: """
            \(disk.writeAndReadBackScript)
            echo "disk-size-sectors=$(cat /sys/block/vda/size)"
            echo "hwrng=$(head -c 16 /dev/hwrng | hexdump -v -e '/1 "%02x"')"
            echo "hwrng-driver=$(cat /sys/class/misc/hw_random/rng_current)"
            """, accelerator: accelerator).run(echo: echo)
        guard qemu.exitStatus == 0 else {
            throw GuestKitError.guestDidNotFinish(guest: "QEMU", status: qemu.hostStatus, console: qemu.console)
        }
        let hostSHA = try disk.hostSHA256()
        let bytes = disk.workloadBytes
        report("   guest ready after \(qemu.readyUptime.map { String(format: "%.2f", $0) } ?? "?") s of guest uptime; powered off after \(String(format: "%.1f", qemu.wallSeconds)) s wall")
        report("   guest wrote \(bytes >> 20) MiB of random data to /dev/vda (serial \(qemu.reported("disk-serial") ?? "?"), \((Int(qemu.reported("disk-size-sectors") ?? "0") ?? 0) / 2048) MiB)")
        report("   write+fsync \(qemu.reported("write-seconds") ?? "?") s, read back and checksum \(qemu.reported("read-seconds") ?? "?") s (guest clock)")
        report("   guest sha256 \(qemu.reported("disk-sha256") ?? "?")")
        report("   host  sha256 \(hostSHA) \(qemu.reported("disk-sha256") == hostSHA ? "(match)" : "(MISMATCH)")")
        report("   /dev/hwrng (\(qemu.reported("hwrng-driver") ?? "?")): \(qemu.reported("hwrng") ?? "?")")
        var failed: [String] = []
        if qemu.reported("disk-sha256") != hostSHA { failed.append("QEMU guest's disk checksum") }
        if qemu.reported("hwrng") == nil { failed.append("QEMU guest's /dev/hwrng") }

        // User-mode Linux: the same disk and the console.
        if kit.umlKernel != nil {
            report("== user-mode Linux \(kit.umlRelease ?? ""): virtio_uml with virtio-blk + virtio-console")
            let client = try ConsoleClient(path: consoleSocket)
            let uml = try UmlGuest(kit: kit, devices: [.blk(socket: blk), .console(socket: console)], command: """
                \(disk.readBackScript)
                echo "hello from user-mode Linux $(uname -r) on swiftdm's virtio-console" > /dev/hvc0
                """).run(echo: echo)
            let consoleText = client.read(until: "virtio-console", timeout: .seconds(10))
            report("   booted and ran in \(String(format: "%.1f", uml.wallSeconds)) s wall")
            report("   UML read the disk QEMU wrote: sha256 \(uml.reported("disk-sha256") ?? "?") \(uml.reported("disk-sha256") == hostSHA ? "(match)" : "(MISMATCH)")")
            report("   console socket received: \(consoleText.trimmingCharacters(in: .whitespacesAndNewlines))")
            if uml.exitStatus != 0 { failed.append("UML guest's exit status \(uml.exitStatus.map { "\($0)" } ?? "(none)")") }
            if uml.reported("disk-sha256") != hostSHA { failed.append("UML guest's disk checksum") }
            if !consoleText.contains("hello from user-mode Linux") { failed.append("UML guest's console line") }
        } else {
            report("== user-mode Linux: skipped (the user-mode-linux package is unavailable)")
        }
        guard failed.isEmpty else { throw GuestKitError.resultsMismatch(checks: failed) }
    }
}
