import Foundation
import GuestKit
import Testing

/// A Linux guest on `swiftdm run` snapshotted through QMP (`stop`, `migrate` to `file:DIR`),
/// its process killed, and continued by `swiftdm run --restore DIR` in a new process — in the
/// nested-KVM lab here (Linux needs a hardware-style KVM). The guest counts once a second and
/// writes each count to its disk with `fsync`; the restored guest must go on counting from
/// where it stopped, and every count it acknowledged must be on the disk, once, in order.
@Suite(.enabled(if: KVMLinuxHost.available, "needs swiftdm, the guest kit, and a native KVM or QEMU (see the SKIP line)"), .serialized)
struct KVMSnapshotLinuxTests {
    static let counts = 40

    /// The guest: count, write `count N` into sector N of vda (fsync'd: acknowledged), print
    /// it; at the end read the sectors back and report the sequence found.
    static let guestScript = """
        i=0
        while [ $i -lt \(counts) ]; do
            i=$((i+1))
            printf 'count %d\\n' $i | dd of=/dev/vda bs=512 seek=$i conv=sync,fsync 2>/dev/null && echo "count $i"
            sleep 1
        done
        seq=""
        j=1
        while [ $j -le \(counts) ]; do
            seq="$seq$(dd if=/dev/vda bs=512 skip=$j count=1 2>/dev/null | tr -d '\\000' | cut -d' ' -f2 | tr -d '\\n'),"
            j=$((j+1))
        done
        echo "sequence=$seq"
        echo "vda-sectors=$(cat /sys/block/vda/size)"
        echo "clocksource=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
        """

    @Test func aLinuxGuestContinuesInANewProcess() throws {
        let kit = try LinuxGuestHost.requireKit()
        let swiftdm = try LinuxGuestHost.requireSwiftdm()
        let dir = try ScratchDirectory.create(prefix: "/tmp/sdm-snap-lab-")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let disk = dir + "/counts.img"
        #expect(FileManager.default.createFile(atPath: disk, contents: Data(count: 1 << 20)))
        let file = NestedKVMScenario.File(hostPath: disk, name: "counts.img")
        var guest = SwiftdmRunGuest(swiftdm: swiftdm, kit: kit, command: Self.guestScript, transport: .pci, disks: [], rng: false,
                                    virtioConsole: false, cpus: 1, memory: "256M")
        guest.extraArguments = ["--qmp", "unix:/tmp/snap-qmp.sock,server=on,wait=off"]
        let run = NestedKVMScenario.guest(name: "template", guest, disks: [file])
        let words = run.commandLine.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let s = LabPaths.swiftdm
        // L1: run, wait for count 8, stop + snapshot, kill -9, restore with the same command line.
        let script = """
            \(words) > /tmp/first.log 2>&1 &
            pid=$!
            # The serial console ends lines with CR LF.
            n=0; while ! tr -d '\r' < /tmp/first.log | grep -q '^count 8$' && [ $n -lt 900 ]; do sleep 0.2; n=$((n+1)); done
            \(s) qmp --socket /tmp/snap-qmp.sock stop
            saved=$(grep -c 'count ' /tmp/first.log)
            echo "saved-last=$(tr -d '\r' < /tmp/first.log | grep '^count ' | tail -n 1 | cut -d' ' -f2)"
            # Stopped means stopped: no count for three seconds.
            sleep 3
            [ "$(grep -c 'count ' /tmp/first.log)" = "$saved" ] && echo "stop-held=yes" || echo "stop-held=no"
            echo "status-while-stopped=$(\(s) qmp --socket /tmp/snap-qmp.sock query-status | tr -d ' ')"
            t0=$(cut -d' ' -f1 /proc/uptime)
            \(s) qmp --socket /tmp/snap-qmp.sock migrate '{"uri": "file:/tmp/snap"}' || echo "migrate-failed"
            echo "snapshot-seconds=$(awk -v a=$t0 -v b=$(cut -d' ' -f1 /proc/uptime) 'BEGIN { print b - a }')"
            echo "snapshot-status=$(\(s) qmp --socket /tmp/snap-qmp.sock query-migrate | tr -d ' ')"
            echo "snapshot-ram-kib=$(du -k /tmp/snap/ram | cut -f1)"
            echo "snapshot-state-bytes=$(wc -c < /tmp/snap/state)"
            # `cont` resumes the original too (its later counts are a future the snapshot does
            # not have: the restored guest redoes them, with the same bytes).
            \(s) qmp --socket /tmp/snap-qmp.sock cont
            n=0; while [ "$(grep -c 'count ' /tmp/first.log)" = "$saved" ] && [ $n -lt 300 ]; do sleep 0.2; n=$((n+1)); done
            [ "$(grep -c 'count ' /tmp/first.log)" != "$saved" ] && echo "cont-resumed=yes" || echo "cont-resumed=no"
            kill -9 $pid; wait $pid
            sed 's/^/first: /' /tmp/first.log | tail -n 5
            t1=$(cut -d' ' -f1 /proc/uptime)
            rm -f /tmp/snap-qmp.sock
            \(words) --restore /tmp/snap > /tmp/second.log 2>&1 &
            pid=$!
            # Grow the disk while the restored guest runs: Linux rereads the capacity.
            n=0; while ! tr -d '\r' < /tmp/second.log | grep -q '^count 12$' && [ $n -lt 900 ]; do sleep 0.2; n=$((n+1)); done
            \(s) qmp --socket /tmp/snap-qmp.sock block_resize '{"device": "virtio0", "size": 2097152}' || echo "resize-failed"
            wait $pid
            status=$?
            echo "restore-seconds-to-exit=$(awk -v a=$t1 -v b=$(cut -d' ' -f1 /proc/uptime) 'BEGIN { print b - a }')"
            echo "first-after=$(tr -d '\r' < /tmp/second.log | grep '^count ' | head -n 1 | cut -d' ' -f2)"
            sed 's/^/second: /' /tmp/second.log
            echo "restored-sequence=$(tr -d '\r' < /tmp/second.log | grep '^sequence=' | cut -d= -f2)"
            echo "restored-vda-sectors=$(tr -d '\r' < /tmp/second.log | grep '^vda-sectors=' | cut -d= -f2)"
            echo "restored-status=$status"
            """
        var scenario = NestedKVMScenario(name: "snapshot", commandLine: ["sh", "-c", script], files: [file], timeout: .seconds(600))
        scenario.preparation = "rm -rf /tmp/snap /tmp/snap-qmp.sock"
        let lab = try NestedKVMLab(kit: kit, swiftdm: swiftdm, workDirectory: dir) { print("lab: \($0)") }
        let result = try #require(try lab.run([scenario], echo: LinuxGuestHost.echo)["snapshot"])
        let out = result.output
        #expect(result.status == 0, "\(out.suffix(4000))")
        #expect(result.reported("restored-status") == "0", "\(out.suffix(4000))")
        let last = try #require(result.reported("saved-last").flatMap { Int($0) }, "\(out.suffix(3000))")
        let next = result.reported("first-after").flatMap { Int($0) }
        #expect(next == last + 1, "the counter continues: stopped at \(last), went on at \(String(describing: next))\n\(out.suffix(3000))")
        let expected = (1...Self.counts).map(String.init).joined(separator: ",") + ","
        #expect(result.reported("restored-sequence") == expected, "every acknowledged write once, in order:\n\(out.suffix(3000))")
        #expect(result.reported("snapshot-status")?.contains("completed") == true, "\(out.suffix(2000))")
        #expect(result.reported("stop-held") == "yes" && result.reported("cont-resumed") == "yes", "\(out.suffix(2000))")
        #expect(result.reported("status-while-stopped")?.contains("\"status\":\"paused\"") == true, "\(out.suffix(2000))")
        #expect(result.reported("restored-vda-sectors") == "4096", "Linux saw block_resize grow vda to 2 MiB:\n\(out.suffix(2000))")
        print("BENCH: Linux 256 MiB snapshot: \(result.reported("snapshot-seconds") ?? "?") s, RAM \(result.reported("snapshot-ram-kib") ?? "?") KiB on disk, state \(result.reported("snapshot-state-bytes") ?? "?") bytes; restore to guest exit \(result.reported("restore-seconds-to-exit") ?? "?") s")
    }
}
