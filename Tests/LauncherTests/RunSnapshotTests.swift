import DeviceModel
import Foundation
import QMP
import SwiftdmTestSupport
import Testing

/// Snapshots of `swiftdm run` through QMP (`stop`, `migrate` to `file:DIR`) continued by a new
/// process (`--restore DIR`), on this host's KVM with the qmp guest, whose PM-timer loop
/// prints "tick N" (N in hex, counting in guest RAM).
@Suite(.enabled(if: SwiftdmExecutable.path != nil && HostRequirements.guests, "needs swiftdm, /dev/kvm and nasm (see the SKIP lines)"), .serialized)
struct RunSnapshotTests {
    typealias Machine = RunQMPTests.Machine

    /// The tick numbers a machine printed, in order.
    static func ticks(_ m: Machine) -> [Int] {
        m.stdout.split(separator: "\n").compactMap { line in
            line.hasPrefix("tick ") ? Int(line.dropFirst(5).trimmingCharacters(in: .whitespaces), radix: 16) : nil
        }
    }

    /// Runs a machine until it has ticked, snapshots it, ends it; returns it (its directory
    /// holds the disk and the snapshot) and its last tick.
    static func snapshot(_ name: String, extra: [String] = []) throws -> (machine: Machine, directory: String, lastTick: Int) {
        let a = try Machine(name, extra: extra)
        let q = try QMPTestConnection(path: a.sockets[0])
        try a.wait("three ticks") { ticks(a).count >= 3 }
        _ = try q.run("stop")
        let snapshot = a.directory + "/snap"
        _ = try q.run("migrate", ["uri": .string("file:" + snapshot)])
        let status = try q.run("query-migrate")
        #expect(status["status"] == "completed", "\(status)")
        #expect((status["ram"]?["transferred"]?.integerValue ?? 0) > 0)
        let last = try #require(ticks(a).last)
        _ = try q.execute("quit")
        #expect(a.exitStatus() == 0, "\(a.stderr)")
        return (a, snapshot, last)
    }

    @Test func aStoppedMachineContinuesInANewProcess() throws {
        let (a, snapshot, last) = try Self.snapshot("snap")
        #expect(FileManager.default.fileExists(atPath: snapshot + "/state"))
        let b = try Machine("restored", disk: a.disk, extra: ["--restore", snapshot])
        let q = try QMPTestConnection(path: b.sockets[0])
        try b.wait("ticks after the restore") { Self.ticks(b).count >= 2 }
        let after = Self.ticks(b)
        #expect(after.first == last + 1, "the counter continues: saved at \(last), restored machine printed \(after)")
        #expect(!b.stdout.contains("virtio-blk"), "the firmware did not run again: \(b.stdout)")
        #expect(b.stderr.contains("continuing the machine saved in \(snapshot)"), "\(b.stderr)")
        // The restored machine is whole: its devices, a reset in place (the boot count comes
        // from the restored CMOS) and the power button work.
        _ = try q.run("query-block")
        _ = try q.run("system_reset")
        try b.wait("a boot after the reset") {
            let parts = b.stdout.components(separatedBy: "boot 00000002\n")
            return parts.count == 2 && parts[1].contains("tick ")
        }
        _ = try q.run("system_powerdown")
        #expect(b.exitStatus() == 0, "\(b.stderr)")
    }

    /// A machine with a virtio-console (on a socket), a virtio-gpu and two virtio-input devices
    /// is saved too (their state records), and continues in a new process with the same devices.
    @Test func aMachineWithConsoleGPUAndInputIsSavedAndContinued() throws {
        let console = FileManager.default.temporaryDirectory.appendingPathComponent("swiftdm-snap-console-\(getpid()).sock").path
        defer { unlink(console) }
        let devices = ["--device", "virtio-console,socket=\(console)", "--gpu", "--input", "keyboard", "--input", "tablet"]
        let (a, snapshot, last) = try Self.snapshot("devices", extra: devices)
        let archive = try DeviceStateArchive(decoding: [UInt8](Data(contentsOf: URL(fileURLWithPath: snapshot + "/state"))))
        let kinds = Set(archive.records.map(\.kind))
        for kind in ["virtio-console", "virtio-gpu", "virtio-input"] { #expect(kinds.contains(kind), "no \(kind) record in \(kinds)") }
        let b = try Machine("devices-restored", disk: a.disk, extra: devices + ["--restore", snapshot])
        let q = try QMPTestConnection(path: b.sockets[0])
        try b.wait("ticks after the restore") { Self.ticks(b).count >= 2 }
        #expect(Self.ticks(b).first == last + 1, "the counter continues from \(last): \(Self.ticks(b))")
        // The host bridge, virtio-blk, -console, -gpu and two -input functions.
        guard case .array(let buses) = try q.run("query-pci"), case .array(let functions)? = buses.first?["devices"] else {
            Issue.record("query-pci answered no bus")
            return
        }
        #expect(functions.count == 6, "\(functions)")
        _ = try q.run("system_powerdown")
        #expect(b.exitStatus() == 0, "\(b.stderr)")
    }

    @Test func aDamagedOrForeignSnapshotIsRefusedWithOneLine() throws {
        let (a, snapshot, _) = try Self.snapshot("bad")
        let firmware = GuestImages.buildDirectory.appendingPathComponent("qmp.bin").path
        let state = snapshot + "/state"
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: state)))
        // Another machine: more RAM than the snapshot's.
        let other = try SwiftdmExecutable.run(["run", "--firmware", firmware, "--memory", "128M", "--disk", a.disk, "--restore", snapshot], timeout: 60)
        #expect(other.status != 0)
        #expect(other.stderrLines.count == 1 && other.stderr.contains("memory-bytes"), "\(other.stderr)")
        // Flipped bytes.
        bytes[bytes.count / 2] ^= 0x5A
        try Data(bytes).write(to: URL(fileURLWithPath: state))
        let flipped = try SwiftdmExecutable.run(["run", "--firmware", firmware, "--memory", "64M", "--disk", a.disk, "--restore", snapshot], timeout: 60)
        #expect(flipped.status != 0)
        #expect(flipped.stderrLines.count == 1 && flipped.stderr.contains("damaged"), "\(flipped.stderr)")
        // Truncated.
        try Data(bytes.prefix(bytes.count - 100)).write(to: URL(fileURLWithPath: state))
        let truncated = try SwiftdmExecutable.run(["run", "--firmware", firmware, "--memory", "64M", "--disk", a.disk, "--restore", snapshot], timeout: 60)
        #expect(truncated.status != 0)
        #expect(truncated.stderrLines.count == 1 && truncated.stderr.contains("truncated"), "\(truncated.stderr)")
        // Another format version.
        var future = bytes
        future[8] = 9
        try Data(future).write(to: URL(fileURLWithPath: state))
        let version = try SwiftdmExecutable.run(["run", "--firmware", firmware, "--memory", "64M", "--disk", a.disk, "--restore", snapshot], timeout: 60)
        #expect(version.status != 0)
        #expect(version.stderrLines.count == 1 && version.stderr.contains("format version 9"), "\(version.stderr)")
    }
}
