import Foundation
import QMP
import SwiftdmTestSupport
import Testing

/// `swiftdm run --qmp` with the qmp guest (Tests/Guests/qmp.asm) on this host's KVM, driven
/// through real clients: our own line client (which keeps events) and QEMU's `qemu.qmp`.
@Suite(.enabled(if: SwiftdmExecutable.path != nil && HostRequirements.guests, "needs swiftdm, /dev/kvm and nasm (see the SKIP lines)"), .serialized)
struct RunQMPTests {
    /// One `swiftdm run` in the background, its serial output in a file.
    final class Machine {
        let process = Process()
        let directory: String
        let disk: String
        let sockets: [String]
        let stdoutPath: String
        let stderrPath: String

        /// - Parameters:
        ///   - disk: an existing image to use instead of a fresh one (a restored machine's).
        ///   - extra: more `swiftdm run` options (`--restore DIR`).
        ///   - firmware: what to boot instead of the qmp guest.
        init(_ name: String, sockets count: Int = 1, disk existing: String? = nil, firmware given: String? = nil, extra: [String] = []) throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swiftdm-qmp-\(name)-\(getpid())").path
            self.directory = directory
            try? FileManager.default.removeItem(atPath: directory)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            disk = existing ?? directory + "/disk.img"
            if existing == nil { _ = FileManager.default.createFile(atPath: disk, contents: Data(count: 1 << 20)) }
            sockets = (0..<count).map { "\(directory)/qmp\($0).sock" }
            stdoutPath = directory + "/stdout"
            stderrPath = directory + "/stderr"
            _ = try GuestImages.image("qmp")
            let firmware = given ?? GuestImages.buildDirectory.appendingPathComponent("qmp.bin").path
            process.executableURL = URL(fileURLWithPath: SwiftdmExecutable.path!)
            process.arguments = ["run", "--firmware", firmware, "--memory", "64M", "--disk", disk]
                + sockets.flatMap { ["--qmp", "unix:\($0),server=on,wait=off"] } + extra
            _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
            _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
            process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
            process.standardError = FileHandle(forWritingAtPath: stderrPath)
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }

        deinit {
            if process.isRunning { process.terminate() }
            try? FileManager.default.removeItem(atPath: directory)
        }

        var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
        var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }
        var ticks: Int { stdout.split(separator: "\n").filter { $0.hasPrefix("tick ") }.count }

        /// Waits until `condition` holds, for `timeout` seconds.
        func wait(_ what: String, timeout: Double = 120, until condition: () -> Bool) throws {
            let deadline = Date().addingTimeInterval(timeout)
            while !condition() {
                guard Date() < deadline, process.isRunning else {
                    throw QMPTestConnection.Failure(description: "\(what) did not happen; stdout: \(stdout) stderr: \(stderr)")
                }
                usleep(50_000)
            }
        }

        /// The exit status, waiting up to `timeout` seconds.
        func exitStatus(timeout: Double = 60) -> Int32? {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning {
                if Date() > deadline { return nil }
                usleep(50_000)
            }
            return process.terminationStatus
        }
    }

    /// Every command through two clients at once: inventory, block, stop/cont (the guest's
    /// PM-timer ticks stop while paused), block_resize, and system_powerdown, which the guest
    /// answers by powering off (POWERDOWN, then SHUTDOWN from the guest, status 0).
    @Test func everyCommandThroughTwoClients() throws {
        let m = try Machine("all", sockets: 2)
        let a = try QMPTestConnection(path: m.sockets[0])
        let b = try QMPTestConnection(path: m.sockets[1])

        #expect(try a.run("query-version")["qemu"]?["major"] == 7)
        let names = Set(try a.run("query-commands").arrayValue.compactMap { $0["name"]?.stringValue })
        for n in ["query-status", "stop", "cont", "system_reset", "system_powerdown", "quit", "query-block", "block_resize",
                  "query-blockstats", "query-pci", "query-chardev", "screendump", "query-version", "query-commands"] {
            #expect(names.contains(n), "\(n) missing from query-commands")
        }
        #expect(try b.run("query-status") == ["status": "running", "singlestep": false, "running": true])

        // The guest has done its block requests once it ticks.
        try m.wait("the first tick") { m.ticks > 0 }
        let stats = try a.run("query-blockstats").arrayValue.first
        #expect(stats?["device"] == "virtio0")
        #expect((stats?["stats"]?["rd_operations"]?.integerValue ?? 0) >= 1, "\(String(describing: stats))")
        #expect((stats?["stats"]?["wr_operations"]?.integerValue ?? 0) >= 1)
        #expect((stats?["stats"]?["wr_bytes"]?.integerValue ?? 0) >= 512)
        #expect(stats?["stats"]?["failed_rd_operations"] == 0)

        let block = try a.run("query-block").arrayValue.first
        #expect(block?["device"] == "virtio0")
        #expect(block?["inserted"]?["file"]?.stringValue == m.disk)
        #expect(block?["inserted"]?["ro"] == false)
        #expect(block?["inserted"]?["image"]?["virtual-size"]?.integerValue == 1 << 20)

        let pci = try a.run("query-pci").arrayValue.first?["devices"]?.arrayValue ?? []
        #expect(pci.first?["class_info"]?["class"] == 0x0600, "slot 0 is the host bridge")
        let blk = pci.first { $0["id"]?["vendor"] == 0x1af4 && $0["class_info"]?["class"] == 0x0100 }
        #expect(blk != nil, "virtio-blk-pci missing from \(pci)")
        #expect(blk?["regions"]?.arrayValue.isEmpty == false)

        let chardevs = try a.run("query-chardev").arrayValue.compactMap { $0["label"]?.stringValue }
        #expect(chardevs == ["serial0", "qmp0", "qmp1"])

        let dump = try a.execute("screendump", ["filename": .string(m.directory + "/screen.ppm")])
        #expect(dump["error"]?["desc"]?.stringValue?.contains("no console") == true, "\(dump)")

        // stop: both clients hear STOP; the guest prints nothing while paused.
        _ = try a.run("stop")
        _ = try a.event("STOP")
        _ = try b.event("STOP")
        #expect(try b.run("query-status") == ["status": "paused", "singlestep": false, "running": false])
        let pausedAt = m.ticks
        usleep(1_500_000)
        #expect(m.ticks <= pausedAt + 1, "ticks went on while paused: \(pausedAt) → \(m.ticks)")
        _ = try b.run("cont")
        _ = try a.event("RESUME")
        _ = try b.event("RESUME")
        #expect(try a.run("query-status")["status"] == "running")
        try m.wait("ticks after cont", timeout: 30) { m.ticks > pausedAt + 2 }

        // block_resize by device and by node name; the file and the reported size follow.
        _ = try a.run("block_resize", ["device": "virtio0", "size": .integer(2 << 20)])
        #expect((try FileManager.default.attributesOfItem(atPath: m.disk)[.size] as? Int) == 2 << 20)
        _ = try a.run("block_resize", ["node-name": "virtio0-file", "size": .integer(3 << 20)])
        #expect(try a.run("query-block").arrayValue.first?["inserted"]?["image"]?["virtual-size"]?.integerValue == 3 << 20)
        let missing = try a.execute("block_resize", ["device": "virtio9", "size": 512])
        #expect(missing["error"]?["class"] == "DeviceNotFound", "\(missing)")
        let odd = try a.execute("block_resize", ["device": "virtio0", "size": 1000])
        #expect(odd["error"]?["class"] == "GenericError", "\(odd)")

        // system_powerdown: the guest sees the button and powers off.
        _ = try b.run("system_powerdown")
        _ = try a.event("POWERDOWN")
        let shutdown = try b.event("SHUTDOWN")
        #expect(shutdown["data"] == ["guest": true, "reason": "guest-shutdown"])
        #expect(m.exitStatus() == 0, "stderr: \(m.stderr)")
        #expect(m.stdout.hasSuffix("power button\n"), "\(m.stdout)")
    }

    /// quit ends the run with status 0, announced as QEMU does; also while paused.
    @Test func quitWhilePausedExitsZero() throws {
        let m = try Machine("quit")
        let c = try QMPTestConnection(path: m.sockets[0])
        _ = try c.run("stop")
        _ = try c.event("STOP")
        _ = try c.run("quit")
        #expect(try c.event("SHUTDOWN")["data"] == ["guest": false, "reason": "host-qmp-quit"])
        #expect(m.exitStatus() == 0, "stderr: \(m.stderr)")
    }

    /// The qmp guest's boots in `m`'s output, each the lines from its "boot N" line up to (not
    /// including) its ticks and the next boot.
    static func boots(_ m: Machine) -> [[Substring]] {
        var boots: [[Substring]] = []
        for line in m.stdout.split(separator: "\n") {
            if line.hasPrefix("boot ") { boots.append([line]) } else if !line.hasPrefix("tick "), !boots.isEmpty { boots[boots.count - 1].append(line) }
        }
        return boots
    }

    /// system_reset resets the machine in place, as QEMU does: `RESET`, then the guest boots
    /// again in the same process — its boot count, kept in CMOS RAM, says 2 — and finds its
    /// virtio-pci function as at power-on (no decoding, BAR 4 unassigned, MSI-X off with entry 0
    /// masked, device status 0), sets it up again and uses it: every line of the second boot is
    /// the first boot's. A reset while paused stays paused until `cont`.
    @Test func systemResetRebootsInPlace() throws {
        let m = try Machine("reset")
        let c = try QMPTestConnection(path: m.sockets[0])
        try m.wait("the first tick") { m.ticks > 0 }
        let first = try #require(Self.boots(m).first)
        #expect(first.first == "boot 00000001")
        #expect(first.contains("found: command 00000000 bar4 0000000C msix control 00000001 entry 0 control 00000001 device status 00000000"),
                "\(first)")

        _ = try c.run("system_reset")
        #expect(try c.event("RESET")["data"] == ["guest": false, "reason": "host-qmp-system-reset"])
        try m.wait("the second boot's ticks") {
            let parts = m.stdout.components(separatedBy: "boot 00000002\n")
            return parts.count == 2 && parts[1].contains("tick ")
        }
        let second = Self.boots(m)[1]
        #expect(second.first == "boot 00000002", "\(second)")
        #expect(Array(second.dropFirst()) == Array(first.dropFirst()), "the second boot differs: \(second) vs \(first)")
        #expect(try c.run("query-status")["status"] == "running")

        _ = try c.run("stop")
        _ = try c.event("STOP")
        _ = try c.run("system_reset")
        _ = try c.event("RESET")
        #expect(try c.run("query-status")["status"] == "paused")
        usleep(1_000_000)
        #expect(Self.boots(m).count == 2, "the paused machine ran: \(m.stdout)")
        _ = try c.run("cont")
        _ = try c.event("RESUME")
        try m.wait("the third boot") { Self.boots(m).count == 3 && Self.boots(m)[2].contains { $0.hasPrefix("msi-x interrupts") } }
        #expect(Self.boots(m)[2].first == "boot 00000003")

        _ = try c.run("system_powerdown")
        #expect(try c.event("SHUTDOWN")["data"] == ["guest": true, "reason": "guest-shutdown"])
        #expect(m.exitStatus() == 0, "stderr: \(m.stderr)")
        #expect(!c.events.contains { $0["event"] == "SHUTDOWN" && $0["data"]?["reason"] == "host-qmp-system-reset" })
    }

    /// SeaBIOS starts again after system_reset: its banner a second time, in the same process
    /// (the firmware's copy below 1 MiB, where SeaBIOS records that it ran, is written afresh).
    @Test func systemResetStartsSeaBIOSAgain() throws {
        let bios = "/usr/share/seabios/bios.bin"
        guard FileManager.default.fileExists(atPath: bios) else {
            print("SKIP: systemResetStartsSeaBIOSAgain needs \(bios) (apt-get install seabios)")
            return
        }
        let m = try Machine("seabios", firmware: bios)
        let c = try QMPTestConnection(path: m.sockets[0])
        func banners() -> Int { m.stdout.components(separatedBy: "SeaBIOS (version").count - 1 }
        try m.wait("the banner") { m.stdout.contains("Booting from") }
        _ = try c.run("system_reset")
        _ = try c.event("RESET")
        try m.wait("a second banner") { banners() == 2 && m.stdout.components(separatedBy: "Booting from").count - 1 >= 2 }
        _ = try c.run("quit")
        #expect(m.exitStatus() == 0, "stderr: \(m.stderr)")
    }

    /// QEMU's own client library (`qemu.qmp`, async QMPClient) against swiftdm: negotiation,
    /// commands, the STOP and RESUME events, errors as `ExecuteError`, and quit.
    @Test func qemuQMPPythonClient() throws {
        guard let python = Toolchain.find("python3"),
              (try? Toolchain.run(python, ["-c", "import qemu.qmp"])) != nil else {
            print("SKIP: qemuQMPPythonClient needs python3 with qemu.qmp (pip install qemu.qmp; scripts/install-deps.sh does)")
            return
        }
        let m = try Machine("python")
        let script = """
            import asyncio, sys
            from qemu.qmp import QMPClient, ExecuteError

            async def main(path):
                qmp = QMPClient('swiftdm-test')
                await qmp.connect(path)
                status = await qmp.execute('query-status')
                assert status['status'] == 'running', status
                version = await qmp.execute('query-version')
                assert version['qemu']['major'] == 7, version
                await qmp.execute('stop')
                while (await asyncio.wait_for(qmp.events.get(), 30))['event'] != 'STOP':
                    pass
                assert (await qmp.execute('query-status'))['status'] == 'paused'
                await qmp.execute('cont')
                blocks = await qmp.execute('query-block')
                assert blocks[0]['device'] == 'virtio0', blocks
                try:
                    await qmp.execute('block_resize', {'device': 'nope', 'size': 512})
                    raise SystemExit('block_resize of a missing device succeeded')
                except ExecuteError as e:
                    assert e.error_class == 'DeviceNotFound', e
                await qmp.execute('quit')
                try:
                    await qmp.disconnect()
                except EOFError:
                    # The server hung up after quit before the client disconnected: qemu.qmp
                    # reports that as EOFError, which QEMU's own machine.py expects after quit.
                    pass
                print('qemu.qmp ok')

            asyncio.run(main(sys.argv[1]))
            """
        let output = try Toolchain.run(python, ["-c", script, m.sockets[0]])
        #expect(output.contains("qemu.qmp ok"), "\(output)")
        #expect(m.exitStatus() == 0, "stderr: \(m.stderr)")
    }

    /// --qmp spellings swiftdm cannot honour are one clear line, status 2.
    @Test(arguments: [
        ("unix:/tmp/x.sock,server=on,wait=on", "wait=on"),
        ("unix:/tmp/x.sock", "server=on is required"),
        ("tcp:localhost:4444,server=on,wait=off", "expected unix:PATH"),
        ("unix:/tmp/x.sock,server=on,bogus=1", "unknown parameter 'bogus=1'"),
    ])
    func badQMPOptionIsOneClearLine(value: String, message: String) throws {
        let r = try SwiftdmExecutable.run(["run", "--firmware", "/bin/sh", "--qmp", value], timeout: 30)
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderrLines.count == 1, "\(r.stderr)")
        #expect(r.stderr.contains(message), "\(r.stderr)")
    }
}

extension JSONValue {
    /// The elements of an array, or none.
    fileprivate var arrayValue: [JSONValue] {
        if case .array(let a) = self { return a }
        return []
    }
}
