import Foundation
import GuestKit
import Testing

/// A Linux guest on `swiftdm run` driven through QMP in the nested-KVM lab (Linux needs a
/// hardware-style KVM; all scenarios share one lab boot, ``KVMSnapshotLab``): snapshotted
/// (`stop`, `migrate` to `file:DIR`), its process killed and continued by
/// `swiftdm run --restore DIR` in a new process — counting once a second and under a busy
/// virtio-blk queue — and powered off with `system_powerdown`.
@Suite(.enabled(if: KVMLinuxHost.available, "needs swiftdm, the guest kit, and a native KVM or QEMU (see the SKIP line)"), .serialized)
struct KVMSnapshotLinuxTests {
    /// The guest counts once a second and writes each count to its disk with `fsync`; the
    /// restored guest must go on counting from where it stopped, and every count it
    /// acknowledged must be on the disk, once, in order.
    @Test func aLinuxGuestContinuesInANewProcess() throws {
        let result = try KVMSnapshotLab.result("snapshot")
        let out = result.output
        #expect(result.status == 0, "\(out.suffix(4000))")
        #expect(result.reported("restored-status") == "0", "\(out.suffix(4000))")
        let last = try #require(result.reported("saved-last").flatMap { Int($0) }, "\(out.suffix(3000))")
        let next = result.reported("first-after").flatMap { Int($0) }
        #expect(next == last + 1, "the counter continues: stopped at \(last), went on at \(String(describing: next))\n\(out.suffix(3000))")
        let expected = (1...KVMSnapshotLab.counts).map(String.init).joined(separator: ",") + ","
        #expect(result.reported("restored-sequence") == expected, "every acknowledged write once, in order:\n\(out.suffix(3000))")
        #expect(result.reported("snapshot-status")?.contains("completed") == true, "\(out.suffix(2000))")
        #expect(result.reported("stop-held") == "yes" && result.reported("cont-resumed") == "yes", "\(out.suffix(2000))")
        #expect(result.reported("status-while-stopped")?.contains("\"status\":\"paused\"") == true, "\(out.suffix(2000))")
        #expect(result.reported("restored-vda-sectors") == "4096", "Linux saw block_resize grow vda to 2 MiB:\n\(out.suffix(2000))")
        print("BENCH: Linux 256 MiB snapshot: \(result.reported("snapshot-seconds") ?? "?") s, RAM \(result.reported("snapshot-ram-kib") ?? "?") KiB on disk, state \(result.reported("snapshot-state-bytes") ?? "?") bytes; restore to guest exit \(result.reported("restore-seconds-to-exit") ?? "?") s")
    }

    /// `system_powerdown`: swiftdm announces `POWERDOWN`, Linux's `button` driver reports the
    /// fixed-feature power button, the kit's `acpid` handler announces it and ends the guest's
    /// processes, `/init` powers off through ACPI S5, swiftdm announces `SHUTDOWN` from the
    /// guest and exits 0.
    @Test func systemPowerdownPowersLinuxOff() throws {
        let result = try KVMSnapshotLab.result("powerdown")
        let out = result.output
        #expect(result.status == 0, "\(out.suffix(3000))")
        #expect(result.reported("acpi-button")?.hasPrefix("LNXPWRBN") == true, "Linux found ACPI's fixed power button:\n\(out.suffix(3000))")
        #expect(result.reported("input-power-button") == "1", "\(out.suffix(3000))")
        #expect(result.reported("acpid") == "running", "\(out.suffix(3000))")
        let lines = out.split(separator: "\n").map(String.init)
        let powerdown = lines.firstIndex { $0.hasPrefix("qmp: ") && $0.contains(#""event": "POWERDOWN""#) }
        let shutdown = lines.firstIndex { $0.hasPrefix("qmp: ") && $0.contains(#""event": "SHUTDOWN""#) }
        #expect(powerdown != nil && shutdown != nil && powerdown! < shutdown!, "POWERDOWN, then SHUTDOWN:\n\(out.suffix(3000))")
        if let shutdown {
            #expect(lines[shutdown].contains(#""data": {"guest": true, "reason": "guest-shutdown"}"#), "\(lines[shutdown])")
        }
        let button = lines.firstIndex { $0.hasPrefix(GuestPowerButton.marker) }
        let exit = lines.firstIndex { $0.hasPrefix(GuestInit.exitMarker) }
        #expect(button != nil && exit != nil && button! < exit!, "the guest's handler, then its init's power-off:\n\(out.suffix(3000))")
        #expect(result.reported("swiftdm-status") == "0", "a guest power-off ends swiftdm with 0:\n\(out.suffix(3000))")
        print("BENCH: Linux on swiftdm (nested KVM): system_powerdown → swiftdm exit \(result.reported("powerdown-seconds") ?? "?") s")
    }

    /// Writers keep the virtio-blk queue busy; `stop` and `migrate` come back to back, so
    /// requests are in flight; the process is killed and the snapshot continued in a new one.
    /// Every acknowledged write is on the disk with its content (read back through the
    /// restored device, and from the image afterwards), no write request was served twice or
    /// lost (the two processes together served exactly one per write), the acknowledgements
    /// continue in order across the snapshot, and the disk keeps working.
    @Test func aSnapshotTakenMidIOLosesAndRepeatsNothing() throws {
        let result = try KVMSnapshotLab.result("midio")
        let out = result.output
        let writes = KVMSnapshotLab.midIOWriters * KVMSnapshotLab.midIOBlocksPerWriter
        #expect(result.status == 0, "\(out.suffix(4000))")
        #expect(!out.contains("snapshot-failed") && !out.contains("powerdown-qmp-failed"), "\(out.suffix(4000))")
        let before = try #require(result.reported("acks-before-snapshot").flatMap { Int($0) }, "\(out.suffix(3000))")
        #expect(before >= KVMSnapshotLab.midIOSnapshotAfter && before < writes, "the snapshot fell among the writes:\n\(out.suffix(3000))")
        #expect(result.reported("acks") == "\(writes)", "\(out.suffix(3000))")
        #expect(result.reported("write-failures") == "0", "\(out.suffix(3000))")
        #expect(result.reported("acks-in-order") == "yes", "each writer's acknowledgements once, in order, across the snapshot:\n\(out.suffix(3000))")
        #expect(result.reported("guest-check") == "ok", "the restored guest reads every block as written:\n\(out.suffix(3000))")
        #expect(result.reported("disk-check") == "ok", "the image holds every block as written:\n\(out.suffix(3000))")
        #expect(result.reported("guest-io-errors") == "0", "\(out.suffix(3000))")
        let first = try #require(result.reported("first-wr-operations").flatMap { Int($0) }, "\(out.suffix(3000))")
        let second = try #require(result.reported("second-wr-operations").flatMap { Int($0) }, "\(out.suffix(3000))")
        #expect(first >= before, "the first process served at least the writes acknowledged before the snapshot")
        #expect(first + second == writes, "write requests served: \(first) before the snapshot + \(second) after it, for \(writes) writes:\n\(out.suffix(3000))")
        #expect(result.reported("restored-status") == "0", "the restored guest powered off cleanly:\n\(out.suffix(3000))")
        let seconds = result.reported("acks-seconds").flatMap(Double.init)
        let rate = seconds.map { String(format: "%.1f", Double(before) / max($0, 0.001)) } ?? "?"
        print("BENCH: Linux on swiftdm (nested KVM), \(KVMSnapshotLab.midIOWriters) O_DIRECT+fsync writers: \(rate) writes/s; snapshot mid-I/O \(result.reported("snapshot-seconds") ?? "?") s after \(before) acknowledged writes (\(first - before) served but not yet acknowledged); restore to the last write \(result.reported("restore-to-done-seconds") ?? "?") s")
    }
}
