import Foundation
import KVMGlue
import SwiftdmTestSupport
import Testing

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
        (["--firmware", file, "--disk", "\(file),discard=unmap"], "unknown disk option 'discard'"),
        (["--firmware", file, "--disk", "\(file),aio=native"], "--disk aio 'native'"),
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

    /// Without /proc (a minimal dom0 or initramfs), Swift's `CommandLine.arguments` is empty;
    /// swiftdm still reads its arguments (the argv captured before `main`) instead of printing
    /// its top-level help with status 0.
    @Test func argumentsAreReadWithoutProc() throws {
        guard getuid() == 0, let unshare = Toolchain.find("unshare") else {
            print("SKIP: argumentsAreReadWithoutProc needs root and unshare(1) to unmount /proc")
            return
        }
        let script = "umount -l /proc && exec \"$0\" \"$@\""
        let r = try SwiftdmExecutable.run(
            ["run", "--firmware", "/nonexistent-firmware"], timeout: 30,
            launcher: [unshare, "--mount", "--propagation", "private", "sh", "-c", script])
        #expect(r.status == 2, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("--firmware /nonexistent-firmware"), "\(r.stderr)")
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

    /// `--vnc` under `--seccomp`: the server still takes connections (accept4 is on the
    /// allow-list), and `swiftdm screenshot` gets SeaBIOS's machine's dark 640x480 screen
    /// (SeaBIOS has no virtio-gpu driver) while the guest runs.
    @Test func screenshotOfARunningMachineUnderSeccomp() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sdm-vnc-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let socket = dir + "/vnc.sock"
        let machine = Process()
        machine.executableURL = URL(fileURLWithPath: try #require(SwiftdmExecutable.path))
        machine.arguments = ["run", "--firmware", "/usr/share/seabios/bios.bin", "--memory", "64M", "--gpu", "--input", "tablet",
                             "--vnc", "unix=\(socket)", "--seccomp"]
        machine.standardOutput = FileHandle.nullDevice
        machine.standardError = FileHandle.nullDevice
        try machine.run()
        defer {
            machine.terminate()
            machine.waitUntilExit()
        }
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: socket) { usleep(50_000) }
        // Twice: the second connection proves the first was closed and accepting goes on.
        for name in ["first.ppm", "second.png"] {
            let r = try SwiftdmExecutable.run(["screenshot", "--vnc", "unix=\(socket)", dir + "/" + name], timeout: 60)
            #expect(r.status == 0 && r.stdout == "\(dir)/\(name): 640x480\n", "\(r.stdout) \(r.stderr)")
        }
        let ppm = try #require(FileManager.default.contents(atPath: dir + "/first.ppm"))
        #expect(ppm.starts(with: Array("P6\n640 480\n255\n".utf8)) && ppm.count == 15 + 640 * 480 * 3)
        #expect(machine.isRunning, "the machine runs on")
    }

    /// `--timings` prints the phases on stderr in one line.
    @Test func timingsPrintThePhases() throws {
        let r = try SwiftdmExecutable.run(["run", "--timings", "--firmware", try guestFile("platform"), "--memory", "64M"])
        #expect(r.status == 0, "\(r.stderr)")
        let line = r.stderrLines.first { $0.hasPrefix("swiftdm run: timings: ") }
        #expect(line?.contains("setup → vcpus started ") == true, "\(r.stderr)")
        #expect(line?.contains("vcpus started → guest stopped ") == true, "\(r.stderr)")
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
            e820 entries 00000007 00000001
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
        #expect(r.stdout == Self.virtioPCIBlockTranscript(transport: transport))
        try expectWrittenPattern(disk)
    }

    /// What the polled virtio-blk guest prints over virtio-pci `transport` (on KVM and xen-sim alike).
    static func virtioPCIBlockTranscript(transport: String) -> String {
        let id = transport == "pci" ? "10421AF4" : "10011AF4"
        return """
            virtio-pci blk \(id) in slot 00000001
            capacity 00000800
            serial swiftdm-disk0
            read checksum 0ADB9800
            read status 00000000
            write status 00000000
            msi-x interrupts 00000003

            """
    }

    /// The polled virtio-blk driver over virtio-mmio, found in the machine's virtio-mmio window.
    @Test func virtioMMIOBlockGuest() throws {
        let disk = try patternDisk("vmmio")
        let r = try SwiftdmExecutable.run([
            "run", "--firmware", try guestFile("virtio-mmio-blk"), "--memory", "64M",
            "--disk", "\(disk),serial=mmio-disk,transport=mmio",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == Self.virtioMMIOBlockTranscript)
        try expectWrittenPattern(disk)
    }

    /// What the polled virtio-blk guest prints over virtio-mmio (on KVM and xen-sim alike).
    static let virtioMMIOBlockTranscript = """
        virtio-mmio blk at D0000000
        capacity 00000800
        serial mmio-disk
        read checksum 0ADB9800
        read status 00000000
        write status 00000000

        """

    /// The refusals both hostile guests expect, each answered with DEVICE_NEEDS_RESET.
    static let hostileRefusals = """
        queue size 3: needs reset
        queue size 32768: needs reset
        rings outside RAM: needs reset
        DRIVER_OK without FEATURES_OK: needs reset
        descriptor loop: needs reset
        huge indirect table: needs reset
        buffer outside RAM: needs reset
        head out of range: needs reset
        avail index jump: needs reset

        """

    /// A hostile driver over virtio-pci (Tests/Guests/hostile-pci.asm): writes to read-only
    /// registers and PCI fields, BARs moved onto RAM and each other, bad queue set-ups and
    /// rings, a masked MSI-X vector and one pointing nowhere. swiftdm stays up, refuses each
    /// bad set-up and ring with DEVICE_NEEDS_RESET, delivers the masked completion on unmask,
    /// and after a reset the device serves a well-behaved driver, interrupts included.
    /// With `--seccomp` the same run happens under the system-call allow-list.
    @Test(arguments: [("pci", false), ("pci-transitional", false), ("pci", true)])
    func hostileVirtioPCIGuest(transport: String, seccomp: Bool) throws {
        let disk = try patternDisk("hostile-\(transport)-\(seccomp)")
        let r = try SwiftdmExecutable.run([
            "run", "--firmware", try guestFile("hostile-pci"), "--memory", "64M",
            "--disk", "\(disk),serial=swiftdm-disk0,transport=\(transport)",
        ] + (seccomp ? ["--seccomp", "--rng", "--console", "virtio"] : []), timeout: 120)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.isEmpty, "\(r.stderr)")
        let id = transport == "pci" ? "10421AF4" : "10011AF4"
        #expect(r.stdout == "hostile virtio-pci blk \(id)\n" + """
            read-only registers kept
            bars moved and restored: device answers

            """ + Self.hostileRefusals + """
            masked vector: pending, delivered on unmask
            vector to nowhere: ok
            capacity 00000800
            serial swiftdm-disk0
            read checksum 0ADB9800
            read status 00000000
            write status 00000000
            msi-x interrupts 00000003
            faults 00000000

            """)
        try expectWrittenPattern(disk)
    }

    /// A hostile driver over virtio-mmio (Tests/Guests/hostile-mmio.asm): writes to read-only
    /// registers, reserved offsets and a queue that does not exist, narrow writes, bad queue
    /// set-ups and rings. swiftdm stays up, refuses each with DEVICE_NEEDS_RESET, and after a
    /// reset the device serves a well-behaved driver.
    @Test func hostileVirtioMMIOGuest() throws {
        let disk = try patternDisk("hostile-mmio")
        let r = try SwiftdmExecutable.run([
            "run", "--firmware", try guestFile("hostile-mmio"), "--memory", "64M",
            "--disk", "\(disk),serial=mmio-disk,transport=mmio",
        ], timeout: 120)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.isEmpty, "\(r.stderr)")
        #expect(r.stdout == """
            hostile virtio-mmio blk at D0000000
            read-only registers kept
            reserved offsets, narrow writes, queue 7: ignored

            """ + Self.hostileRefusals + """
            capacity 00000800
            serial mmio-disk
            read checksum 0ADB9800
            read status 00000000
            write status 00000000
            faults 00000000

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
        let mbrDisk = try MBRTestDisk(name: "mbr-\(transport)")
        let disk = mbrDisk.path
        let start = Date()
        let r = try SwiftdmExecutable.run(["run", "--firmware", bios, "--disk", "\(disk),transport=\(transport)"], mark: "MBR: loaded")
        let elapsed = Date().timeIntervalSince(start)
        #expect(r.status == 0, "\(r.stderr)")
        let expected = mbrDisk.checksum
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
    func leftPadded(_ n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
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
