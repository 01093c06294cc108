import Foundation

extension DemoCommand {
    /// The demo where the host runs unmodified guests natively: the guest kit boots on swiftdm's
    /// own KVM machine (`swiftdm run --kernel`), with swiftdm's virtio-blk, virtio-rng and
    /// virtio-console over virtio-pci — no QEMU and no vhost-user in the path.
    func runOnSwiftdmKVM(kit: BuiltGuestKit, diskMiB: Int, echo: (@Sendable (String) -> Void)?, say: (String) -> Void) throws {
        let work = try Self.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let image = work + "/scratch.img"
        _ = FileManager.default.createFile(atPath: image, contents: nil)
        try FileHandle(forWritingTo: URL(fileURLWithPath: image)).truncate(atOffset: UInt64(diskMiB) << 20)

        let bytes = min(16, diskMiB / 2) << 20
        let script = """
            t0=$(cut -d' ' -f1 /proc/uptime)
            dd if=/dev/urandom of=/dev/vda bs=1M count=\(bytes >> 20) conv=fsync 2>/dev/null
            sync; echo 3 > /proc/sys/vm/drop_caches
            t1=$(cut -d' ' -f1 /proc/uptime)
            echo "disk-sha256=$(head -c \(bytes) /dev/vda | sha256sum | cut -d' ' -f1)"
            t2=$(cut -d' ' -f1 /proc/uptime)
            echo "disk-serial=$(cat /sys/block/vda/serial)"
            echo "write-seconds=$(echo "$t1 $t0" | awk '{print $1-$2}') read-seconds=$(echo "$t2 $t1" | awk '{print $1-$2}')"
            echo "hwrng=$(head -c 16 /dev/hwrng | hexdump -v -e '/1 "%02x"')"
            echo "cpus=$(grep -c ^processor /proc/cpuinfo)"
            echo "hello from $(uname -r) on swiftdm's virtio-console" > /dev/hvc0
            """
        say("== swiftdm run (this host's KVM): Debian \(kit.kernelRelease) with virtio-blk, virtio-rng, virtio-console on virtio-pci")
        var guest = SwiftdmRunGuest(kit: kit, command: script)
        guest.disks = ["\(image),serial=scratch"]
        guest.rng = true
        guest.virtioConsole = true
        let (run, status) = try guest.run(echo: echo)
        guard status == 0, run.exitStatus == 0 else {
            throw DemoFailure("the guest on swiftdm run did not finish its workload (status \(status.map { "\($0)" } ?? "killed")); console:\n\(run.console)")
        }
        let hostSHA = try Self.sha256(of: image, count: bytes)
        say("   guest ready after \(run.readyUptime.map { String(format: "%.2f", $0) } ?? "?") s of guest uptime; powered off after \(String(format: "%.1f", run.wallSeconds)) s wall")
        say("   \(run.reported("cpus") ?? "?") vCPUs; guest wrote \(bytes >> 20) MiB to /dev/vda (serial \(run.reported("disk-serial") ?? "?"))")
        say("   write+fsync \(run.reported("write-seconds") ?? "?") s, read back \(run.reported("read-seconds") ?? "?") s (guest clock)")
        say("   guest sha256 \(run.reported("disk-sha256") ?? "?")")
        say("   host  sha256 \(hostSHA) \(run.reported("disk-sha256") == hostSHA ? "(match)" : "(MISMATCH)")")
        say("   /dev/hwrng: \(run.reported("hwrng") ?? "?")")
        say("   /dev/hvc0: \(run.console.contains("on swiftdm's virtio-console") ? "line received" : "nothing received")")
        guard run.reported("disk-sha256") == hostSHA, run.reported("hwrng") != nil, run.console.contains("on swiftdm's virtio-console") else {
            throw DemoFailure("the guest's results do not match the host's (see above)")
        }
    }
}
