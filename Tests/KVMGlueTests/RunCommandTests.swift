import Foundation
import KVMGlue
import Testing

/// `swiftdm run` end to end: the built executable, its exit status, stdout (the guest's serial
/// console) and stderr.
enum SwiftdmExecutable {
    /// The `swiftdm` built next to the test bundle.
    static let path: String? = {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [dir, dir.deletingLastPathComponent()] {
            let p = candidate.appendingPathComponent("swiftdm").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        print("SKIP: swiftdm run tests need the swiftdm executable next to the test bundle (swift build first)")
        return nil
    }()

    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
        /// Seconds from launch until stdout first contained the `mark` text, if it did.
        var markSeen: Double?
        var stderrLines: [Substring] { stderr.split(separator: "\n") }
    }

    /// Runs `swiftdm` with `arguments`; sends SIGTERM after `timeout` seconds (or once `stopWhen`
    /// sees the awaited text on stdout).
    static func run(
        _ arguments: [String], environment: [String: String] = [:], timeout: Double = 120,
        stopWhen: String? = nil, launcher: [String] = [], input: String? = nil, mark: String? = nil
    ) throws -> Outcome {
        let p = Process()
        if launcher.isEmpty {
            p.executableURL = URL(fileURLWithPath: path!)
            p.arguments = arguments
        } else {
            p.executableURL = URL(fileURLWithPath: launcher[0])
            p.arguments = Array(launcher.dropFirst()) + [path!] + arguments
        }
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let stdin = Pipe()
        p.standardInput = input == nil ? FileHandle.nullDevice : stdin
        let collected = OutputCollector()
        out.fileHandleForReading.readabilityHandler = { h in collected.append(out: h.availableData) }
        err.fileHandleForReading.readabilityHandler = { h in collected.append(err: h.availableData) }
        let launched = Date()
        var markSeen: Double?
        try p.run()
        if let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try stdin.fileHandleForWriting.close()
        }
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning {
            if let mark, markSeen == nil, collected.stdout.contains(mark) { markSeen = Date().timeIntervalSince(launched) }
            if Date() > deadline { p.terminate(); break }
            if let stopWhen, collected.stdout.contains(stopWhen) { p.terminate(); break }
            usleep(20_000)
        }
        p.waitUntilExit()
        out.fileHandleForReading.readabilityHandler = nil
        err.fileHandleForReading.readabilityHandler = nil
        collected.append(out: out.fileHandleForReading.readDataToEndOfFile())
        collected.append(err: err.fileHandleForReading.readDataToEndOfFile())
        return Outcome(status: p.terminationStatus, stdout: collected.stdout, stderr: collected.stderr, markSeen: markSeen)
    }

    final class OutputCollector: @unchecked Sendable {
        // SAFETY: every access goes through `lock`.
        private let lock = NSLock()
        private var outData = Data()
        private var errData = Data()
        func append(out d: Data) { lock.withLock { outData.append(d) } }
        func append(err d: Data) { lock.withLock { errData.append(d) } }
        var stdout: String { lock.withLock { String(decoding: outData, as: UTF8.self) } }
        var stderr: String { lock.withLock { String(decoding: errData, as: UTF8.self) } }
    }
}

@Suite(.enabled(if: SwiftdmExecutable.path != nil, "needs the swiftdm executable (see the SKIP line)"))
struct RunCommandInputTests {
    static let file: String = {
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("swiftdm-run-input-\(getpid()).img").path
        _ = FileManager.default.createFile(atPath: p, contents: Data(count: 4096))
        return p
    }()

    /// Every kind of bad input: one line on stderr naming the problem, status 2, nothing on stdout.
    @Test(arguments: [
        (["--bogus"], "Unknown option '--bogus'"),
        ([], "nothing to boot"),
        (["--firmware", "/nonexistent/bios.bin"], "--firmware /nonexistent/bios.bin: No such file or directory"),
        (["--kernel", "/nonexistent/vmlinuz"], "--kernel /nonexistent/vmlinuz: No such file or directory"),
        (["--kernel", file, "--initrd", "/nonexistent/initrd"], "--initrd /nonexistent/initrd"),
        (["--kernel", file, "--firmware", file], "mutually exclusive"),
        (["--firmware", file, "--initrd", file], "--initrd needs --kernel"),
        (["--firmware", file, "--memory", "12Q"], "--memory '12Q'"),
        (["--firmware", file, "--memory", "1K"], "--memory '1K'"),
        (["--firmware", file, "--memory", "99999999999999999999G"], "--memory"),
        (["--firmware", file, "--cpus", "0"], "--cpus '0'"),
        (["--firmware", file, "--cpus", "many"], "--cpus 'many'"),
        (["--firmware", file, "--transport", "usb"], "--transport 'usb'"),
        (["--firmware", file, "--console", "vga"], "--console 'vga'"),
        (["--firmware", file, "--disk", "/nonexistent/disk.img"], "--disk /nonexistent/disk.img"),
        (["--firmware", file, "--disk", "\(file),cache=none"], "unknown disk option 'cache'"),
        (["--firmware", file, "--disk", "\(file),serial=\(String(repeating: "x", count: 21))"], "--disk serial"),
        (["--firmware", file, "--net", "tap=tap0,mac=52:54:00:12:34"], "--net mac '52:54:00:12:34'"),
        (["--firmware", file, "--net", "tap=tap0,mac=01:54:00:12:34:56"], "multicast"),
        (["--firmware", file, "--net", "mac=52:54:00:12:34:56"], "--net"),
        (["--firmware"], "Missing value for '--firmware"),
        (["--firmware", file, "stray"], "Unexpected argument 'stray'"),
    ])
    func badInputIsOneClearLine(arguments: [String], message: String) throws {
        let r = try SwiftdmExecutable.run(["run"] + arguments, timeout: 30)
        #expect(r.status == 2, "\(arguments): status \(r.status), stderr \(r.stderr)")
        #expect(r.stderrLines.count == 1, "\(arguments): \(r.stderr)")
        #expect(r.stderr.hasPrefix("swiftdm run: "))
        #expect(r.stderr.contains(message), "\(arguments): \(r.stderr)")
        #expect(r.stdout.isEmpty)
    }

    /// A disk the user cannot write (here: a read-only bind of the image in a private mount
    /// namespace) is refused for read-write use, with the way out named.
    @Test func unwritableDiskSuggestsReadOnly() throws {
        guard getuid() == 0, let unshare = Toolchain.find("unshare") else {
            print("SKIP: unwritableDiskSuggestsReadOnly needs root and unshare(1) for a read-only bind mount")
            return
        }
        let script = "mount --bind \"$1\" \"$1\" && mount -o remount,bind,ro \"$1\" && shift && exec \"$0\" \"$@\""
        let r = try SwiftdmExecutable.run(
            [Self.file, "run", "--firmware", Self.file, "--disk", Self.file], timeout: 30,
            launcher: [unshare, "--mount", "--propagation", "private", "sh", "-c", script])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderrLines.count == 1)
        #expect(r.stderr.contains("--disk \(Self.file): Read-only file system (add readonly=on to use it read-only)"), "\(r.stderr)")
    }

    @Test func helpListsTheOptions() throws {
        let r = try SwiftdmExecutable.run(["run", "--help"], timeout: 30)
        #expect(r.status == 0)
        for option in ["--kernel", "--initrd", "--append", "--firmware", "--memory", "--cpus", "--transport", "--disk", "--rng", "--console", "--net"] {
            #expect(r.stdout.contains(option), "\(option) missing from help")
        }
    }

    /// Without /dev/kvm (hidden by an empty /dev in a private mount namespace): one line, status 2.
    @Test func missingKVMIsOneClearLine() throws {
        guard getuid() == 0, let unshare = Toolchain.find("unshare") else {
            print("SKIP: missingKVMIsOneClearLine needs root and unshare(1) to hide /dev/kvm")
            return
        }
        let script = "mount -t tmpfs none /dev && exec \"$0\" \"$@\""
        let r = try SwiftdmExecutable.run(
            ["run", "--firmware", Self.file], timeout: 30, launcher: [unshare, "--mount", "--propagation", "private", "sh", "-c", script])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderrLines == ["swiftdm run: cannot open /dev/kvm: no KVM on this host (No such file or directory)"])
    }
}

/// Guests booted by `swiftdm run` on this host's KVM.
@Suite(.enabled(if: SwiftdmExecutable.path != nil && HostRequirements.guests, "needs swiftdm, /dev/kvm and nasm (see the SKIP lines)"), .serialized)
struct RunCommandGuestTests {
    func guestFile(_ name: String) throws -> String {
        _ = try GuestImages.image(name)
        return GuestImages.buildDirectory.appendingPathComponent("\(name).bin").path
    }

    /// The platform devices as a guest sees them, ending in ACPI power-off (status 0).
    @Test func platformGuestPowersOff() throws {
        let r = try SwiftdmExecutable.run(["run", "--firmware", try guestFile("platform"), "--memory", "64M"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "platform guest\nfw_cfg QEMU\nconf1 12378086\necam 12378086 00001237\ncmos 00000300\n")
        #expect(r.stderr.isEmpty)
    }

    /// A triple fault ends the run with status 1 and one line carrying the registers.
    @Test func tripleFaultEndsTheRunNonZero() throws {
        let r = try SwiftdmExecutable.run(["run", "--firmware", try guestFile("triplefault")])
        #expect(r.status == 1)
        #expect(r.stdout == "about to triple fault\n")
        #expect(r.stderrLines.count == 1)
        #expect(r.stderr.contains("triple fault") && r.stderr.contains("rip=0x"), "\(r.stderr)")
    }

    /// `--kernel`, `--initrd`, `--append` through the 64-bit boot protocol: a bzImage-format test
    /// kernel reports what it found in boot_params and powers off. On a PVM host the launcher says
    /// once that unmodified kernels run under emulation.
    @Test func kernelBootProtocol() throws {
        let initrd = GuestImages.buildDirectory.appendingPathComponent("initrd-\(getpid())").path
        let initrdBytes = (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        try Data(initrdBytes).write(to: URL(fileURLWithPath: initrd))
        let checksum = initrdBytes.reduce(UInt32(0)) { $0 &+ UInt32($1) }
        let r = try SwiftdmExecutable.run([
            "run", "--kernel", try guestFile("minikernel"), "--initrd", initrd, "--append", "console=ttyS0 swiftdm.test=1",
            "--memory", "128M",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == """
            minikernel: boot_params at 00007000
            cmdline: console=ttyS0 swiftdm.test=1
            e820 entries 00000006 00000001
            initrd 00000BB8 \(String(checksum, radix: 16, uppercase: true).leftPadded(8))

            """)
        if KVMSystem.isPVMHost {
            #expect(r.stderrLines.count == 1)
            #expect(r.stderr.contains("unmodified kernels run under instruction emulation"))
        } else {
            #expect(r.stderr.isEmpty)
        }
    }

    /// stdin is the guest's serial input.
    @Test func stdinReachesTheGuestsUART() throws {
        let r = try SwiftdmExecutable.run(["run", "--firmware", try guestFile("echo")], timeout: 60, input: "hello, swiftdm.")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "type:\nHELLO, SWIFTDM.\n")
    }

    /// A raw disk image for the virtio guests: sectors 0–7 hold a known pattern (their dword sum
    /// is 0x0ADB9800), the rest is zero.
    func patternDisk(_ name: String) throws -> String {
        var image = [UInt8](repeating: 0, count: 1 << 20)
        for sector in 0..<8 {
            for i in 0..<128 {
                let v = UInt32(truncatingIfNeeded: sector &* 0x0100_0193 &+ i &* 0x9E37_79B9)
                for b in 0..<4 { image[sector * 512 + i * 4 + b] = UInt8(truncatingIfNeeded: v >> (8 * b)) }
            }
        }
        let path = GuestImages.buildDirectory.appendingPathComponent("\(name)-\(getpid()).img").path
        try Data(image).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The dwords the guests write to sector 8.
    func expectWrittenPattern(_ path: String) throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        for i in 0..<128 {
            let offset = 8 * 512 + i * 4
            let v = UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
            guard v == UInt32(i) ^ 0x5A5A_5A5A else {
                Issue.record("sector 8 dword \(i) is 0x\(String(v, radix: 16))")
                return
            }
        }
    }

    /// The polled virtio-blk driver over modern and transitional virtio-pci, completions as MSI-X
    /// interrupts (irqfd) to a real-mode handler.
    @Test(arguments: ["pci", "pci-transitional"])
    func virtioPCIBlockGuest(transport: String) throws {
        let disk = try patternDisk("vpci-\(transport)")
        let r = try SwiftdmExecutable.run([
            "run", "--firmware", try guestFile("virtio-pci-blk"), "--memory", "64M",
            "--disk", "\(disk),serial=swiftdm-disk0,transport=\(transport)",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let id = transport == "pci" ? "10421AF4" : "10011AF4"
        #expect(r.stdout == """
            virtio-pci blk \(id) in slot 00000001
            capacity 00000800
            serial swiftdm-disk0
            read checksum 0ADB9800
            read status 00000000
            write status 00000000
            msi-x interrupts 00000003

            """)
        try expectWrittenPattern(disk)
    }

    /// The polled virtio-blk driver over virtio-mmio, found in the machine's virtio-mmio window.
    @Test func virtioMMIOBlockGuest() throws {
        let disk = try patternDisk("vmmio")
        let r = try SwiftdmExecutable.run([
            "run", "--firmware", try guestFile("virtio-mmio-blk"), "--memory", "64M",
            "--disk", "\(disk),serial=mmio-disk,transport=mmio",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == """
            virtio-mmio blk at D0000000
            capacity 00000800
            serial mmio-disk
            read checksum 0ADB9800
            read status 00000000
            write status 00000000

            """)
        try expectWrittenPattern(disk)
    }

    /// A read-only disk refuses the guest's write (VIRTIO_BLK_S_IOERR) and stays unchanged.
    @Test func readOnlyDiskRefusesWrites() throws {
        let disk = try patternDisk("vro")
        let before = try Data(contentsOf: URL(fileURLWithPath: disk))
        let r = try SwiftdmExecutable.run([
            "run", "--firmware", try guestFile("virtio-mmio-blk"), "--memory", "64M", "--transport", "mmio",
            "--disk", "\(disk),readonly=on",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("read checksum 0ADB9800\n"))
        #expect(r.stdout.contains("write status 00000001\n"), "\(r.stdout)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: disk)) == before)
    }

    /// Every device option at once, on both transports: the machine comes up (the guest does not
    /// use them) and powers off cleanly.
    @Test func allDeviceOptionsAssemble() throws {
        let a = try patternDisk("all-a")
        let b = try patternDisk("all-b")
        var arguments = [
            "run", "--firmware", try guestFile("platform"), "--memory", "64M", "--cpus", "2", "--rng",
            "--console", "virtio", "--disk", "\(a),transport=mmio", "--disk", "\(b),readonly=on,serial=b",
        ]
        if FileManager.default.fileExists(atPath: "/dev/net/tun") && getuid() == 0 {
            arguments += ["--net", "tap=sdmt\(getpid() % 100000),mac=52:54:00:12:34:56"]
        } else {
            print("SKIP: allDeviceOptionsAssemble leaves out --net: it needs root and /dev/net/tun")
        }
        let r = try SwiftdmExecutable.run(arguments)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("platform guest\n"))
    }

    /// SeaBIOS boots a boot sector from swiftdm's virtio-blk, as a modern-only and as a transitional
    /// virtio-pci device; the boot sector reads 64 sectors through int 13h and prints their sum.
    @Test(arguments: ["pci", "pci-transitional"])
    func seaBIOSBootsMBRFromVirtioBlock(transport: String) throws {
        let bios = "/usr/share/seabios/bios.bin"
        guard FileManager.default.fileExists(atPath: bios) else {
            print("SKIP: seaBIOSBootsMBRFromVirtioBlock needs \(bios) (apt-get install seabios)")
            return
        }
        let mbr = try GuestImages.image("mbr")
        var generator = SplitMix64(seed: 42)
        let payload = (0..<(64 * 512)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        var image = mbr + payload
        image += [UInt8](repeating: 0, count: (1 << 20) - image.count)
        var sum: UInt32 = 0
        for i in stride(from: 0, to: payload.count, by: 4) {
            sum &+= UInt32(payload[i]) | UInt32(payload[i + 1]) << 8 | UInt32(payload[i + 2]) << 16 | UInt32(payload[i + 3]) << 24
        }
        let disk = GuestImages.buildDirectory.appendingPathComponent("mbr-\(transport)-\(getpid()).img").path
        try Data(image).write(to: URL(fileURLWithPath: disk))
        let start = Date()
        let r = try SwiftdmExecutable.run(["run", "--firmware", bios, "--disk", "\(disk),transport=\(transport)"], mark: "MBR: loaded")
        let elapsed = Date().timeIntervalSince(start)
        #expect(r.status == 0, "\(r.stderr)")
        let expected = String(sum, radix: 16, uppercase: true).leftPadded(8)
        #expect(r.stdout.contains("MBR: loaded\r\nMBR: checksum \(expected)\r\n"), "\(r.stdout)")
        let toMBR = r.markSeen.map { String(format: "%.1f", $0) } ?? "n/a"
        print("BENCH: SeaBIOS from reset to the MBR's first line, virtio-blk \(transport): \(toMBR) s (power-off after \(String(format: "%.1f", elapsed)) s)")
    }

    /// SeaBIOS prints its banner on the serial console; its debug log shows the machine it found.
    @Test func seaBIOSBannerOnSerial() throws {
        let bios = "/usr/share/seabios/bios.bin"
        guard FileManager.default.fileExists(atPath: bios) else {
            print("SKIP: seaBIOSBannerOnSerial needs \(bios) (apt-get install seabios)")
            return
        }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("swiftdm-seabios-\(getpid()).log").path
        let start = Date()
        let r = try SwiftdmExecutable.run(
            ["run", "--firmware", bios, "--memory", "256M", "--cpus", "2"], environment: ["SWIFTDM_DEBUGCON": log],
            timeout: 120, stopWhen: "No bootable device")
        let elapsed = Date().timeIntervalSince(start)
        #expect(r.stdout.contains("SeaBIOS (version"), "serial: \(r.stdout)")
        #expect(r.status == 128 + SIGTERM, "stopped by SIGTERM: \(r.stderr)")
        let debug = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(debug.contains("Running on QEMU (i440fx)"))
        #expect(debug.contains("Found QEMU fw_cfg"))
        #expect(debug.contains("Found 2 cpu(s)"))
        #expect(debug.contains("RamSize") || debug.contains("qemu/e820: addr 0x0000000000100000 len 0x000000000ff00000 [RAM]"), "\(debug)")
        print("BENCH: SeaBIOS under swiftdm run to \"No bootable device\": \(String(format: "%.1f", elapsed)) s (2 vCPUs, 256M)")
    }
}

extension String {
    fileprivate func leftPadded(_ n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}

/// A small deterministic generator for test data (SplitMix64).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
