import ArgumentParser
import Foundation
import Logging
import VhostUser
import VirtioDevices
#if canImport(Glibc)
import Glibc
#endif

/// `swiftdm demo`: real Linux on swiftdm's devices, end to end, in one command.
///
/// Builds (or reuses) the guest kit, serves virtio-blk on a scratch image, virtio-rng and
/// virtio-console as vhost-user backends in this process, boots Debian's cloud kernel under
/// QEMU with the disk and the entropy device, and Debian's user-mode Linux with the disk and
/// the console (QEMU 7.2 has no vhost-user console frontend; UML's virtio_uml attaches any
/// device type). Prints what the guests saw and how long everything took. Where the host runs
/// unmodified guests natively (hardware virtualization, not PVM), the kit boots on swiftdm's own
/// KVM machine instead (``runOnSwiftdmKVM(kit:diskMiB:echo:say:)``).
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Boot Linux guests on swiftdm's virtio-blk, virtio-rng and virtio-console (vhost-user) and report what they saw.")

    @Option(name: .customLong("kit"), help: ArgumentHelp("Guest kit directory (built if needed).", valueName: "DIR"))
    var kitDirectory: String = BuiltGuestKit.defaultDirectory

    @Option(name: .customLong("disk-mib"), help: "Size of the scratch disk in MiB.")
    var diskMiB = 64

    @Flag(name: .shortAndLong, help: "Show the guests' consoles and the backends' logs.")
    var verbose = false

    func validate() throws {
        guard (16...4096).contains(diskMiB) else { throw ValidationError("--disk-mib must be 16...4096") }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        let started = ContinuousClock.now
        let toStderr: @Sendable (String) -> Void = { text in FileHandle.standardError.write(Data(text.utf8)) }
        let echo: (@Sendable (String) -> Void)? = verbose ? toStderr : nil
        func say(_ s: String) { FileHandle.standardOutput.write(Data((s + "\n").utf8)) }
        if SwiftdmRunGuest.hostRunsGuestsNatively {
            // Hardware virtualization: swiftdm's own KVM machine runs the kit (see DemoOnSwiftdmKVM).
            let kit = try GuestKitBuilder(outputDirectory: kitDirectory) { say("   \($0)") }.build()
            try runOnSwiftdmKVM(kit: kit, diskMiB: diskMiB, echo: echo, say: say)
            say("== total \(Self.seconds(ContinuousClock.now - started))")
            return
        }
        guard HostCommand.exists("qemu-system-x86_64") else {
            throw ValidationError("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)")
        }

        // 1. The guest kit.
        say("== guest kit")
        let kitStart = ContinuousClock.now
        let kit = try GuestKitBuilder(outputDirectory: kitDirectory) { say("   \($0)") }.build()
        say("   Debian \(kit.kernelRelease) in \(kitDirectory) (\(Self.seconds(ContinuousClock.now - kitStart)))")

        // 2. The backends, in this process.
        let work = try Self.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let image = work + "/scratch.img"
        _ = FileManager.default.createFile(atPath: image, contents: nil)
        try FileHandle(forWritingTo: URL(fileURLWithPath: image)).truncate(atOffset: UInt64(diskMiB) << 20)

        var logger = Logger(label: "swiftdm.demo")
        logger.logLevel = verbose ? .info : .warning
        let specs: [(name: String, spec: VhostUserDeviceSpec)] = [
            ("blk", .block(path: image, readOnly: false, serial: "scratch")),
            ("rng", .entropy),
            ("console", .console(.socket(path: work + "/console-host.sock"))),
        ]
        var served: [String: (device: any VirtioDevice, backend: VhostUserBackend, socket: String)] = [:]
        defer {
            for (_, s) in served { s.backend.shutdown() }
        }
        say("== vhost-user backends (this process)")
        for (name, spec) in specs {
            let device = try VhostUserDeviceFactory.makeDevice(spec)
            let backend = try VhostUserBackend(device: device, logger: logger)
            let socket = work + "/\(name).sock"
            try backend.listen(on: socket)
            served[name] = (device, backend, socket)
            say("   \(spec) on \(socket)")
        }

        // 3. QEMU: write, sync, read back and checksum the disk; read /dev/hwrng.
        let bytes = min(16, diskMiB / 2) << 20
        let qemuScript = """
            t0=$(cut -d' ' -f1 /proc/uptime)
            dd if=/dev/urandom of=/dev/vda bs=1M count=\(bytes >> 20) conv=fsync 2>/dev/null
            sync; echo 3 > /proc/sys/vm/drop_caches
            t1=$(cut -d' ' -f1 /proc/uptime)
            echo "disk-sha256=$(head -c \(bytes) /dev/vda | sha256sum | cut -d' ' -f1)"
            t2=$(cut -d' ' -f1 /proc/uptime)
            echo "disk-serial=$(cat /sys/block/vda/serial)"
            echo "disk-size-sectors=$(cat /sys/block/vda/size)"
            echo "write-seconds=$(echo "$t1 $t0" | awk '{print $1-$2}') read-seconds=$(echo "$t2 $t1" | awk '{print $1-$2}')"
            echo "hwrng=$(head -c 16 /dev/hwrng | hexdump -v -e '/1 "%02x"')"
            echo "hwrng-driver=$(cat /sys/class/misc/hw_random/rng_current)"
            """
        say("== QEMU \(QemuGuest.accelerator.uppercased()): Debian \(kit.kernelRelease) with vhost-user-blk-pci + vhost-user-rng-pci")
        let qemu = try QemuGuest(kit: kit, machine: .q35,
                                 devices: [.blk(socket: served["blk"]!.socket), .rng(socket: served["rng"]!.socket)],
                                 command: qemuScript).run(echo: echo)
        guard qemu.exitStatus == 0 else {
            throw DemoFailure("the QEMU guest did not finish its workload; console:\n\(qemu.console)")
        }
        let hostSHA = try Self.sha256(of: image, count: bytes)
        say("   guest ready after \(qemu.readyUptime.map { String(format: "%.2f", $0) } ?? "?") s of guest uptime; powered off after \(String(format: "%.1f", qemu.wallSeconds)) s wall")
        say("   guest wrote \(bytes >> 20) MiB of random data to /dev/vda (serial \(qemu.reported("disk-serial") ?? "?"), \((Int(qemu.reported("disk-size-sectors") ?? "0") ?? 0) / 2048) MiB)")
        say("   write+fsync \(qemu.reported("write-seconds") ?? "?") s, read back and checksum \(qemu.reported("read-seconds") ?? "?") s (guest clock)")
        say("   guest sha256 \(qemu.reported("disk-sha256") ?? "?")")
        say("   host  sha256 \(hostSHA) \(qemu.reported("disk-sha256") == hostSHA ? "(match)" : "(MISMATCH)")")
        say("   /dev/hwrng (\(qemu.reported("hwrng-driver") ?? "?")): \(qemu.reported("hwrng") ?? "?")")

        // 4. User-mode Linux: the same disk and the console.
        var umlOK = true
        if kit.umlKernel != nil {
            say("== user-mode Linux \(kit.umlRelease ?? ""): virtio_uml with virtio-blk + virtio-console")
            let console = try ConsoleClient(path: work + "/console-host.sock")
            let umlScript = """
                echo "disk-sha256=$(head -c \(bytes) /dev/vda | sha256sum | cut -d' ' -f1)"
                echo "hello from user-mode Linux $(uname -r) on swiftdm's virtio-console" > /dev/hvc0
                """
            guard let uml = try UmlGuest(kit: kit, devices: [(served["blk"]!.socket, 2), (served["console"]!.socket, 3)],
                                         command: umlScript).run(echo: echo) else {
                throw DemoFailure("user-mode Linux could not be started")
            }
            let consoleText = console.read(until: "virtio-console", timeout: .seconds(10))
            umlOK = uml.exitStatus == 0 && uml.reported("disk-sha256") == hostSHA && consoleText.contains("hello from user-mode Linux")
            say("   booted and ran in \(String(format: "%.1f", uml.wallSeconds)) s wall")
            say("   UML read the disk QEMU wrote: sha256 \(uml.reported("disk-sha256") ?? "?") \(uml.reported("disk-sha256") == hostSHA ? "(match)" : "(MISMATCH)")")
            say("   console socket received: \(consoleText.trimmingCharacters(in: .whitespacesAndNewlines))")
        } else {
            say("== user-mode Linux: skipped (the user-mode-linux package is unavailable)")
        }

        say("== total \(Self.seconds(ContinuousClock.now - started))")
        guard qemu.reported("disk-sha256") == hostSHA, qemu.reported("hwrng") != nil, umlOK else {
            throw DemoFailure("the guests' results do not match the host's (see above)")
        }
    }

    static func seconds(_ d: Duration) -> String {
        String(format: "%.1f s", Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
    }

    static func scratchDirectory() throws -> String {
        var template = Array("/tmp/swiftdm-demo-XXXXXX".utf8CString)
        guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw DemoFailure("mkdtemp failed: errno \(errno)")
        }
        return String(cString: p)
    }

    static func sha256(of path: String, count: Int) throws -> String {
        let h = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? h.close() }
        return String(try HostCommand.run(["sha256sum"], input: try h.read(upToCount: count) ?? Data()).prefix(64))
    }
}

struct DemoFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
