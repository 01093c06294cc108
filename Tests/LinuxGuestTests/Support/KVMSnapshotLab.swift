import Foundation
import GuestKit

/// The scenarios of ``KVMSnapshotLinuxTests``, run in one boot of the nested-KVM lab (Linux
/// needs a hardware-style KVM), started by the first test that asks:
///
/// - `snapshot`: a guest counting once a second, stopped and snapshotted over QMP, killed and
///   continued by `--restore` (``countingScript``, ``snapshotScript``);
/// - `powerdown`: QMP `system_powerdown` and a Linux guest that powers off through its own
///   ACPI power-button path (``GuestPowerButton``);
/// - `midio`: writers keeping the virtio-blk queue busy, snapshotted the moment it stops
///   (`stop` and `migrate` back to back), killed, continued by `--restore`, checked on the
///   guest's and on L1's side (``midIOGuestScript``, ``midIOScript``).
///
/// Each scenario's L1 script prints `key=value` lines the tests read.
enum KVMSnapshotLab {
    /// Counts of the `snapshot` scenario's guest.
    static let counts = 40
    /// Writers of the `midio` scenario, each writing ``midIOBlocksPerWriter`` 4 KiB blocks.
    static let midIOWriters = 4
    static let midIOBlocksPerWriter = 96
    /// The `midio` snapshot is taken once this many writes were acknowledged.
    static let midIOSnapshotAfter = 96

    /// The lab's run, once.
    static let run: Result<NestedKVMLabRun, Error> = Result { try runLab() }

    /// The result of scenario `name`.
    static func result(_ name: String) throws -> NestedKVMScenarioResult {
        guard let r = try run.get()[name] else { throw LinuxGuestHost.SkipReason("the lab did not run \(name)") }
        return r
    }

    private static func runLab() throws -> NestedKVMLabRun {
        let kit = try LinuxGuestHost.requireKit()
        let swiftdm = try LinuxGuestHost.requireSwiftdm()
        // Kept until the process ends: the lab's archives are written here, and the tests
        // that read the results run after this returns.
        let dir = try ScratchDirectory.create(prefix: "/tmp/sdm-snap-lab-")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let counts = dir + "/counts.img"
        let midIO = dir + "/midio.img"
        guard FileManager.default.createFile(atPath: counts, contents: Data(count: 1 << 20)),
              FileManager.default.createFile(atPath: midIO, contents: Data(count: 2 << 20)) else {
            throw LinuxGuestHost.SkipReason("cannot create the disk images in \(dir)")
        }
        let countsFile = NestedKVMScenario.File(hostPath: counts, name: "counts.img")
        let midIOFile = NestedKVMScenario.File(hostPath: midIO, name: "midio.img")

        func commandLine(_ name: String, _ script: String, disks: [NestedKVMScenario.File], diskOptions: [String] = [],
                         socket: String) -> String {
            var guest = SwiftdmRunGuest(swiftdm: swiftdm, kit: kit, command: script, transport: .pci, disks: [], rng: false,
                                        virtioConsole: false, cpus: 1, memory: "256M")
            guest.extraArguments = ["--qmp", "unix:\(socket),server=on,wait=off"]
            let run = NestedKVMScenario.guest(name: name, guest, disks: disks, diskOptions: diskOptions)
            return run.commandLine.map(LabShell.quoted).joined(separator: " ")
        }

        var snapshot = NestedKVMScenario(name: "snapshot", commandLine: ["sh", "-c", snapshotScript(
            commandLine("template", countingScript, disks: [countsFile], socket: "/tmp/snap-qmp.sock"))],
            files: [countsFile], timeout: .seconds(600))
        snapshot.preparation = "rm -rf /tmp/snap /tmp/snap-qmp.sock"
        var powerdown = NestedKVMScenario(name: "powerdown", commandLine: ["sh", "-c", powerdownScript(
            commandLine("powerdown", powerdownGuestScript, disks: [], socket: "/tmp/pd-qmp.sock"))],
            timeout: .seconds(420))
        powerdown.preparation = "rm -f /tmp/pd-qmp.sock"
        // Worker threads for the disk (L1's image is on its initramfs, where the default runs
        // each request inline on the queue's thread): requests then are in flight on the
        // host side too when the snapshot stops the device.
        var midio = NestedKVMScenario(name: "midio", commandLine: ["sh", "-c", midIOScript(
            commandLine("midio", midIOGuestScript, disks: [midIOFile], diskOptions: [",aio=threads"], socket: "/tmp/mio-qmp.sock"),
            disk: midIOFile.labPath)], files: [midIOFile], timeout: .seconds(900))
        midio.preparation = "rm -rf /tmp/mio-snap /tmp/mio-qmp.sock"

        let lab = try NestedKVMLab(kit: kit, swiftdm: swiftdm, workDirectory: dir) { print("lab: \($0)") }
        return try lab.run([snapshot, powerdown, midio], echo: LinuxGuestHost.echo)
    }

    // MARK: snapshot

    /// The guest: count, write `count N` into sector N of vda (fsync'd: acknowledged), print
    /// it; at the end read the sectors back and report the sequence found.
    static let countingScript = """
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

    /// L1: run, wait for count 8, stop + snapshot, kill -9, restore with the same command line.
    static func snapshotScript(_ words: String) -> String {
        let s = LabPaths.swiftdm
        return """
            \(words) > /tmp/first.log 2>&1 &
            pid=$!
            # The serial console ends lines with CR LF.
            n=0; while ! tr -d '\\r' < /tmp/first.log | grep -q '^count 8$' && [ $n -lt 900 ]; do sleep 0.2; n=$((n+1)); done
            \(s) qmp --socket /tmp/snap-qmp.sock stop
            saved=$(grep -c 'count ' /tmp/first.log)
            echo "saved-last=$(tr -d '\\r' < /tmp/first.log | grep '^count ' | tail -n 1 | cut -d' ' -f2)"
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
            n=0; while ! tr -d '\\r' < /tmp/second.log | grep -q '^count 12$' && [ $n -lt 900 ]; do sleep 0.2; n=$((n+1)); done
            \(s) qmp --socket /tmp/snap-qmp.sock block_resize '{"device": "virtio0", "size": 2097152}' || echo "resize-failed"
            wait $pid
            status=$?
            echo "restore-seconds-to-exit=$(awk -v a=$t1 -v b=$(cut -d' ' -f1 /proc/uptime) 'BEGIN { print b - a }')"
            echo "first-after=$(tr -d '\\r' < /tmp/second.log | grep '^count ' | head -n 1 | cut -d' ' -f2)"
            sed 's/^/second: /' /tmp/second.log
            echo "restored-sequence=$(tr -d '\\r' < /tmp/second.log | grep '^sequence=' | cut -d= -f2)"
            echo "restored-vda-sectors=$(tr -d '\\r' < /tmp/second.log | grep '^vda-sectors=' | cut -d= -f2)"
            echo "restored-status=$status"
            """
    }

    // MARK: powerdown

    /// The guest: report the power-button device Linux found, then idle until something ends it.
    static let powerdownGuestScript = """
        echo "acpi-button=$(ls /sys/bus/acpi/drivers/button 2>/dev/null | grep -E '^(LNXPWRBN|PNP0C0C)' | tr '\\n' ' ')"
        echo "input-power-button=$(grep -c 'Name="Power Button"' /proc/bus/input/devices)"
        echo "acpid=$(pidof acpid > /dev/null && echo running || echo missing)"
        echo "armed uptime=$(cut -d' ' -f1 /proc/uptime)"
        while :; do sleep 1; done
        """

    /// L1: boot, wait until the guest is armed, `system_powerdown` and wait for `SHUTDOWN`.
    static func powerdownScript(_ words: String) -> String {
        let s = LabPaths.swiftdm
        return """
            \(words) > /tmp/pd.out 2> /tmp/pd.err &
            pid=$!
            n=0; while ! tr -d '\\r' < /tmp/pd.out | grep -q '^armed' && [ $n -lt 1500 ]; do sleep 0.2; n=$((n+1)); done
            t0=$(cut -d' ' -f1 /proc/uptime)
            \(s) qmp --socket /tmp/pd-qmp.sock --timeout 120 --wait-event SHUTDOWN system_powerdown > /tmp/pd-events.txt 2>&1 || echo "powerdown-qmp-failed"
            wait $pid
            status=$?
            echo "powerdown-seconds=$(awk -v a=$t0 -v b=$(cut -d' ' -f1 /proc/uptime) 'BEGIN { print b - a }')"
            tr -d '\\r' < /tmp/pd.out
            sed 's/^/swiftdm: /' /tmp/pd.err | tail -n 5
            sed 's/^/qmp: /' /tmp/pd-events.txt
            echo "swiftdm-status=$status"
            """
    }

    // MARK: midio

    /// Checks a stream of the `midio` blocks, from block 1 on, as `uniq -c` lines after the
    /// NUL bytes are dropped: each writer's blocks in order, each block 256 copies of its own
    /// 16-byte line (a missing write leaves zeros, which vanish and shift the sequence; a torn
    /// one shows fewer copies). Prints `ok`, or the first block that is not as written.
    static let midIOBlockCheck = """
        tr -d '\\000' | uniq -c | awk -v W=\(midIOWriters) -v N=\(midIOBlocksPerWriter) '
            BEGIN { w = 0; n = 1 }
            {
                want = sprintf("w%d n%07d ok.", w, n)
                if (bad == "" && ($1 != 256 || $2 " " $3 " " $4 != want)) bad = "block of w" w " n" n ": " $0
                n++; if (n > N) { w++; n = 1 }
            }
            END {
                if (bad == "" && w != W) bad = "the blocks end before w" w " n" n
                print (bad == "" ? "ok" : bad)
            }'
        """

    /// Checks the `ack wW nN` lines of a console: each writer's acknowledgements 1, 2, … N,
    /// each once, in order. Prints `yes` or the first that is not.
    static let midIOAckCheck = """
        awk -v W=\(midIOWriters) -v N=\(midIOBlocksPerWriter) '
            /^ack / {
                w = substr($2, 2) + 0; n = substr($3, 2) + 0
                if (bad == "" && n != last[w] + 1) bad = "w" w " n" n " after n" (last[w] + 0)
                last[w] = n
            }
            END {
                for (i = 0; i < W; i++) if (bad == "" && last[i] != N) bad = "w" i " ended at n" (last[i] + 0)
                print (bad == "" ? "yes" : bad)
            }'
        """

    /// The guest: ``midIOWriters`` writers, each writing its blocks one after the other as
    /// fast as it can (O_DIRECT, then fsync: a write and a flush request each), printing
    /// `ack wW nN` only once the write completed. Then it reads every block back through the
    /// device (O_DIRECT) and waits to be powered off.
    static let midIOGuestScript = """
        W=\(midIOWriters); N=\(midIOBlocksPerWriter)
        writer() {
            w=$1; n=0
            while [ $n -lt $N ]; do
                n=$((n+1))
                if yes "$(printf 'w%d n%07d ok.' $w $n)" | head -c 4096 | dd of=/dev/vda bs=4096 seek=$((1 + w * N + n - 1)) iflag=fullblock oflag=direct conv=fsync 2>/dev/null; then
                    echo "ack w$w n$n"
                else
                    echo "write-failed w$w n$n"
                fi
            done
        }
        echo "writers-start uptime=$(cut -d' ' -f1 /proc/uptime)"
        w=0; while [ $w -lt $W ]; do writer $w & w=$((w+1)); done
        wait
        echo "writers-done uptime=$(cut -d' ' -f1 /proc/uptime)"
        echo "guest-check=$(dd if=/dev/vda bs=4096 skip=1 count=$((W * N)) iflag=direct 2>/dev/null | \(midIOBlockCheck))"
        # What Linux logs for a failed, timed-out or bogus block completion.
        dmesg | grep -i -E 'I/O error|not a head|blk_update_request|timed out|virtio.*(error|broken)' | sed 's/^/guest-dmesg: /'
        echo "guest-io-errors=$(dmesg | grep -c -i -E 'I/O error|not a head|blk_update_request|timed out|virtio.*(error|broken)')"
        echo "midio-waiting"
        while :; do sleep 1; done
        """

    /// L1: run until ``midIOSnapshotAfter`` writes were acknowledged, `stop` + `migrate` on one
    /// connection (no gap: requests are in flight), kill -9, `--restore`, let the writers
    /// finish, count the write requests each process served, power the guest off, check the
    /// console across both processes and the disk image.
    static func midIOScript(_ words: String, disk: String) -> String {
        let s = LabPaths.swiftdm
        return """
            acks() { tr -d '\\r' < "$1" | grep -c '^ack '; }
            wr_ops() { sed -n 's/.*"wr_operations": \\([0-9]*\\).*/\\1/p' "$1" | head -n 1; }
            : > /tmp/mio1.out
            \(words) > /tmp/mio1.out 2> /tmp/mio1.err &
            pid=$!
            n=0; while ! tr -d '\\r' < /tmp/mio1.out | grep -q '^writers-start' && [ $n -lt 1500 ]; do sleep 0.2; n=$((n+1)); done
            t0=$(cut -d' ' -f1 /proc/uptime)
            n=0; while [ "$(acks /tmp/mio1.out)" -lt \(midIOSnapshotAfter) ] && [ $n -lt 3000 ]; do sleep 0.1; n=$((n+1)); done
            t1=$(cut -d' ' -f1 /proc/uptime)
            \(s) qmp --socket /tmp/mio-qmp.sock stop migrate '{"uri": "file:/tmp/mio-snap"}' query-blockstats > /tmp/mio-qmp1.txt 2>&1 || echo "snapshot-failed"
            echo "snapshot-seconds=$(awk -v a=$t1 -v b=$(cut -d' ' -f1 /proc/uptime) 'BEGIN { print b - a }')"
            echo "acks-before-snapshot=$(acks /tmp/mio1.out)"
            echo "acks-seconds=$(awk -v a=$t0 -v b=$t1 'BEGIN { print b - a }')"
            echo "first-wr-operations=$(wr_ops /tmp/mio-qmp1.txt)"
            kill -9 $pid; wait $pid
            rm -f /tmp/mio-qmp.sock
            t2=$(cut -d' ' -f1 /proc/uptime)
            \(words) --restore /tmp/mio-snap > /tmp/mio2.out 2> /tmp/mio2.err &
            pid=$!
            n=0; while ! tr -d '\\r' < /tmp/mio2.out | grep -q '^midio-waiting' && [ $n -lt 3000 ]; do sleep 0.2; n=$((n+1)); done
            echo "restore-to-done-seconds=$(awk -v a=$t2 -v b=$(cut -d' ' -f1 /proc/uptime) 'BEGIN { print b - a }')"
            \(s) qmp --socket /tmp/mio-qmp.sock query-blockstats > /tmp/mio-qmp2.txt 2>&1 || echo "blockstats-failed"
            echo "second-wr-operations=$(wr_ops /tmp/mio-qmp2.txt)"
            \(s) qmp --socket /tmp/mio-qmp.sock --timeout 120 --wait-event SHUTDOWN system_powerdown > /tmp/mio-events.txt 2>&1 || echo "powerdown-qmp-failed"
            wait $pid
            echo "restored-status=$?"
            # The guest's console across both processes, as it wrote it.
            cat /tmp/mio1.out /tmp/mio2.out | tr -d '\\r' > /tmp/mio-console.txt
            echo "acks=$(grep -c '^ack ' /tmp/mio-console.txt)"
            echo "write-failures=$(grep -c '^write-failed' /tmp/mio-console.txt)"
            echo "acks-in-order=$(\(midIOAckCheck) < /tmp/mio-console.txt)"
            echo "disk-check=$(dd if=\(disk) bs=4096 skip=1 count=\(midIOWriters * midIOBlocksPerWriter) 2>/dev/null | \(midIOBlockCheck))"
            grep -E '^(writers-|guest-|midio-|\(GuestPowerButton.marker)|\(GuestInit.exitMarker))' /tmp/mio-console.txt
            sed 's/^/first-swiftdm: /' /tmp/mio1.err | tail -n 5
            sed 's/^/second-swiftdm: /' /tmp/mio2.err | tail -n 5
            sed 's/^/qmp: /' /tmp/mio-qmp1.txt /tmp/mio-events.txt
            """
    }
}

/// Shell quoting for the lab's L1 scripts.
enum LabShell {
    /// `word` as one single-quoted shell word.
    static func quoted(_ word: String) -> String { "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'" }
}
