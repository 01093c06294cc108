import Foundation
import Testing
import GuestKit

/// Real, unmodified Linux virtio drivers on swiftdm's devices, served by `swiftdm vhost-user`
/// child processes: Debian's cloud kernel under QEMU (TCG unless the host's KVM runs guests
/// natively) over virtio-pci and virtio-mmio, and Debian's user-mode Linux over virtio_uml.
///
/// Boots are few and combine checks (each costs seconds to tens of seconds of wall time);
/// the suite runs them one after the other so they do not compete for the host's cores.
@Suite("Linux guests on swiftdm vhost-user devices",
       .enabled(if: LinuxGuestHost.available, "needs QEMU, the swiftdm executable and the guest kit (see the SKIP line)"),
       .serialized)
struct VhostUserLinuxTests {
    static let mib = 1 << 20
    static let pattern = Data(String(repeating: "swiftdm-pattern\n", count: 4 * mib / 16).utf8)

    /// Finds a virtio disk by the serial its backend was given (probe order is not fixed).
    static let diskBySerial = """
        disk() { for d in /sys/block/vd*; do [ "$(cat $d/serial 2>/dev/null)" = "$1" ] && basename $d; done; }
        """

    @Test("q35 + vhost-user-blk-pci (2 queues on 2 I/O threads)/rng-pci: known image, pattern written on queue 1 and read on queue 0, read-only disk, /dev/hwrng, fio randrw verify")
    func pciBlockAndEntropy() throws {
        let kit = try LinuxGuestHost.requireKit()
        let dir = try LinuxGuestHost.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try TestImage.create(at: dir + "/data.img", size: 64 * Self.mib, randomPrefix: 16 * Self.mib)
        let ro = try TestImage.create(at: dir + "/ro.img", size: 8 * Self.mib, randomPrefix: 4 * Self.mib)
        let dataSHA = try data.sha256(count: 16 * Self.mib)
        let roSHA = try ro.sha256(count: 4 * Self.mib)

        let blk = try VhostUserBackendProcess(socket: dir + "/data.sock", device: ["--blk", "\(data.path),serial=data,num-queues=2,iothreads=2"])
        let roBlk = try VhostUserBackendProcess(socket: dir + "/ro.sock", device: ["--blk", "\(ro.path),readonly=on,serial=ro"])
        let rng = try VhostUserBackendProcess(socket: dir + "/rng.sock", device: ["--rng"])

        let withFio = LinuxGuestHost.toolsAvailable
        let fio = """
            fio --name=randrw --filename=/dev/$DATA --offset=32m --size=16m --rw=randrw --bs=4k --direct=1 \
                --ioengine=libaio --iodepth=8 --verify=crc32c --verify_fatal=1 > /tmp/fio.out 2>&1
            echo "fio-status=$?"
            grep -E "err=|IOPS" /tmp/fio.out
            """
        let script = """
            \(Self.diskBySerial)
            DATA=$(disk data); RO=$(disk ro)
            echo "data-dev=$DATA ro-dev=$RO"
            echo "data-sha=$(head -c \(16 * Self.mib) /dev/$DATA | sha256sum | cut -d' ' -f1)"
            echo "ro-sha=$(head -c \(4 * Self.mib) /dev/$RO | sha256sum | cut -d' ' -f1)"
            echo "ro-flag=$(cat /sys/block/$RO/ro)"
            echo "data-hwqueues=$(ls /sys/block/$DATA/mq | tr '\\n' ',')"
            if dd if=/dev/zero of=/dev/$RO bs=4096 count=1 conv=fsync 2>/dev/null; then echo ro-write=accepted; else echo ro-write=refused; fi
            # blk-mq maps vCPU n to queue n: the pattern goes out on queue 1 and comes back on queue 0.
            yes swiftdm-pattern | head -c \(4 * Self.mib) | taskset -c 1 dd of=/dev/$DATA bs=1M seek=16 conv=fsync 2>/dev/null
            sync; echo 3 > /proc/sys/vm/drop_caches
            echo "pattern-sha=$(taskset -c 0 dd if=/dev/$DATA bs=1M skip=16 count=4 2>/dev/null | sha256sum | cut -d' ' -f1)"
            echo "rng-bytes=$(head -c 64 /dev/hwrng | wc -c)"
            echo "rng-current=$(cat /sys/class/misc/hw_random/rng_current)"
            \(withFio ? fio : "")
            """
        let guest = QemuGuest(kit: kit, machine: .q35,
                              devices: [.blk(socket: blk.socket, queues: 2), .blk(socket: roBlk.socket), .rng(socket: rng.socket)],
                              command: script, useToolsInitrd: withFio)
        let run = try guest.run(echo: LinuxGuestHost.echo)
        print("q35 guest: ready at \(run.readyUptime ?? -1) s guest uptime, done at \(run.exitUptime ?? -1) s, \(run.wallSeconds) s wall")
        print(run.commandOutput)

        #expect(run.exitStatus == 0, "guest console:\n\(run.console)")
        #expect(run.reported("data-sha") == dataSHA)
        #expect(run.reported("ro-sha") == roSHA)
        #expect(run.reported("ro-flag") == "1")
        #expect(run.reported("data-hwqueues") == "0,1,", "the guest's blk-mq runs both queues")
        #expect(run.reported("ro-write") == "refused")
        #expect(run.reported("rng-bytes") == "64")
        #expect(run.reported("rng-current") == "virtio_rng.0")
        let patternSHA = String(try HostCommand.run(["sha256sum"], input: Self.pattern).prefix(64))
        #expect(run.reported("pattern-sha") == patternSHA)
        if withFio {
            #expect(run.reported("fio-status") == "0")
            #expect(run.commandOutput.contains("err= 0"))
        }

        // The backends exit cleanly; after the guest powered off, the pattern is on the host's image.
        #expect(blk.terminate() == 0)
        #expect(roBlk.terminate() == 0)
        #expect(rng.terminate() == 0)
        #expect(!FileManager.default.fileExists(atPath: blk.socket), "socket removed on SIGTERM")
        #expect(try data.read(offset: 16 * Self.mib, count: 4 * Self.mib) == Self.pattern)
        #expect(try data.sha256(count: 16 * Self.mib) == dataSHA)
        #expect(try ro.sha256(count: 4 * Self.mib) == roSHA, "read-only image unchanged")
    }

    @Test("microvm + vhost-user-blk on virtio-mmio: the guest reads a known image and writes back")
    func mmioBlock() throws {
        let kit = try LinuxGuestHost.requireKit()
        let dir = try LinuxGuestHost.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let image = try TestImage.create(at: dir + "/disk.img", size: 16 * Self.mib, randomPrefix: 8 * Self.mib)
        let sha = try image.sha256(count: 8 * Self.mib)
        let blk = try VhostUserBackendProcess(socket: dir + "/blk.sock", device: ["--blk", image.path])
        let script = """
            echo "sha=$(head -c \(8 * Self.mib) /dev/vda | sha256sum | cut -d' ' -f1)"
            echo "transport=$(basename $(readlink -f /sys/block/vda/device/..))"
            echo mmio-was-here | dd of=/dev/vda bs=512 seek=\(8 * Self.mib / 512) conv=fsync 2>/dev/null
            """
        let run = try QemuGuest(kit: kit, machine: .microvm, devices: [.blk(socket: blk.socket)], command: script)
            .run(echo: LinuxGuestHost.echo)
        print("microvm guest: ready at \(run.readyUptime ?? -1) s guest uptime, \(run.wallSeconds) s wall")
        print(run.commandOutput)
        #expect(run.exitStatus == 0, "guest console:\n\(run.console)")
        #expect(run.reported("sha") == sha)
        #expect(run.reported("transport")?.contains("virtio-mmio") == true || run.reported("transport")?.hasPrefix("LNRO0005") == true,
                "virtio-mmio transport, got \(run.reported("transport") ?? "nothing")")
        #expect(blk.terminate() == 0)
        #expect(try image.read(offset: 8 * Self.mib, count: 14) == Data("mmio-was-here\n".utf8))
    }

    @Test("user-mode Linux virtio_uml: virtio-blk and virtio-console (output and input)",
          .enabled(if: LinuxGuestHost.umlAvailable, "needs Debian's user-mode-linux (see the SKIP line)"))
    func userModeLinux() throws {
        let kit = try LinuxGuestHost.requireKit()
        let dir = try LinuxGuestHost.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let image = try TestImage.create(at: dir + "/disk.img", size: 8 * Self.mib, randomPrefix: 4 * Self.mib)
        let sha = try image.sha256(count: 4 * Self.mib)
        let blk = try VhostUserBackendProcess(socket: dir + "/blk.sock", device: ["--blk", image.path])
        let console = try VhostUserBackendProcess(socket: dir + "/con.sock", device: ["--console", "stdio"])

        let script = """
            echo "sha=$(head -c \(4 * Self.mib) /dev/vda | sha256sum | cut -d' ' -f1)"
            # Keep the console open across write and read: a closed hvc drops what arrives.
            exec 3<>/dev/hvc0
            echo "from-the-uml-guest" >&3
            read -t 60 line <&3
            echo "console-in=$line"
            """
        let guest = UmlGuest(kit: kit, devices: [.blk(socket: blk.socket), .console(socket: console.socket)], command: script)
        // Answer the guest's console line once it arrives at the backend's stdout.
        let responder = Thread {
            if console.process.waitForOutput(containing: "from-the-uml-guest", timeout: .seconds(120)) {
                console.process.write("hello-from-the-host\n")
            }
        }
        responder.start()
        let run = try guest.run(echo: LinuxGuestHost.echo)
        print("UML guest: ready at \(run.readyUptime ?? -1) s, \(run.wallSeconds) s wall")
        print(run.commandOutput)
        #expect(run.exitStatus == 0, "guest console:\n\(run.console)")
        #expect(run.reported("sha") == sha)
        #expect(console.process.output.contains("from-the-uml-guest"))
        #expect(run.reported("console-in") == "hello-from-the-host")
        #expect(blk.terminate() == 0)
        #expect(console.terminate() == 0)
    }

    /// The backend killed with SIGKILL twice while the guest writes, and started again each
    /// time: QEMU (`reconnect=1`) hands the new backend its inflight buffer, the new backend
    /// resubmits what the old one had taken, and the guest sees no error and reads back
    /// exactly what it wrote.
    @Test("backend killed mid-I/O and restarted: QEMU reconnects, in-flight requests are resubmitted, nothing is lost")
    func backendRestartMidIO() throws {
        let kit = try LinuxGuestHost.requireKit()
        let dir = try LinuxGuestHost.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let image = try TestImage.create(at: dir + "/disk.img", size: 64 * Self.mib, randomPrefix: 16 * Self.mib)
        let socket = dir + "/blk.sock"
        var backend = try VhostUserBackendProcess(socket: socket, device: ["--blk", image.path])
        var logs = ""
        let guest = QemuGuest(kit: kit, machine: .q35, devices: [.blk(socket: socket, reconnect: true)], command: """
            head -c \(16 * Self.mib) /dev/urandom > /tmp/src
            echo "src-sha=$(sha256sum < /tmp/src | cut -d' ' -f1)"
            echo io-started
            for round in 1 2 3 4 5 6 7 8; do
                dd if=/tmp/src of=/dev/vda bs=64k seek=512 oflag=direct conv=fsync 2>/dev/null || echo "write-failed=$round"
            done
            echo 3 > /proc/sys/vm/drop_caches
            echo "disk-sha=$(dd if=/dev/vda bs=64k skip=512 count=256 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)"
            echo "io-errors=$(dmesg | grep -c 'I/O error')"
            """)
        let run = try guest.start(echo: LinuxGuestHost.echo)
        defer { if run.isRunning { run.kill() } }
        #expect(run.waitForOutput(containing: "io-started", timeout: .seconds(300)), "guest: \(run.output)")
        for _ in 0..<2 {
            Thread.sleep(forTimeInterval: 1.5)
            backend.process.send(signal: SIGKILL)
            _ = backend.process.waitForExit(timeout: .seconds(10))
            logs += backend.process.output
            backend = try VhostUserBackendProcess(socket: socket, device: ["--blk", image.path])
        }
        #expect(run.waitForExit(timeout: .seconds(600)), "guest did not finish: \(run.output)")
        let result = GuestRun(console: run.output, wallSeconds: 0)
        print(result.commandOutput)
        #expect(result.exitStatus == 0, "guest console:\n\(result.console)")
        #expect(!result.console.contains("write-failed"), "a write failed across a backend restart")
        #expect(result.reported("io-errors") == "0")
        #expect(result.reported("disk-sha") != nil && result.reported("disk-sha") == result.reported("src-sha"))
        logs += backend.process.output
        print(logs.split(separator: "\n").filter { $0.contains("resubmitting") || $0.contains("connected") || $0.contains("error") || $0.contains("warning") }.joined(separator: "\n"))
        #expect(backend.terminate() == 0)
    }

    @Test("QEMU killed mid-I/O: the backend keeps serving the next frontend and the image is intact")
    func frontendDiesMidIO() throws {
        let kit = try LinuxGuestHost.requireKit()
        let dir = try LinuxGuestHost.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let image = try TestImage.create(at: dir + "/disk.img", size: 64 * Self.mib, randomPrefix: 16 * Self.mib)
        let sha = try image.sha256(count: 16 * Self.mib)
        let blk = try VhostUserBackendProcess(socket: dir + "/blk.sock", device: ["--blk", image.path])

        // First frontend: writes continuously to [32 MiB, 48 MiB) and is killed mid-way.
        let writer = QemuGuest(kit: kit, machine: .q35, devices: [.blk(socket: blk.socket)], command: """
            echo io-started
            while true; do dd if=/dev/urandom of=/dev/vda bs=64k seek=512 count=256 conv=fsync 2>/dev/null; done
            """)
        let first = try writer.start(echo: LinuxGuestHost.echo)
        #expect(first.waitForOutput(containing: "io-started", timeout: .seconds(300)), "first guest: \(first.output)")
        // Let requests be in flight, then kill the frontend without warning.
        Thread.sleep(forTimeInterval: 2)
        first.send(signal: SIGKILL)
        first.waitForExit(timeout: .seconds(30))
        #expect(blk.process.isRunning, "backend survives its frontend dying")

        // Second frontend: the untouched region is intact and writes still work.
        let reader = QemuGuest(kit: kit, machine: .q35, devices: [.blk(socket: blk.socket)], command: """
            echo "sha=$(head -c \(16 * Self.mib) /dev/vda | sha256sum | cut -d' ' -f1)"
            echo second-frontend | dd of=/dev/vda bs=512 seek=\(16 * Self.mib / 512) conv=fsync 2>/dev/null
            echo 3 > /proc/sys/vm/drop_caches
            echo "readback=$(dd if=/dev/vda bs=512 skip=\(16 * Self.mib / 512) count=1 2>/dev/null | head -n1)"
            """)
        let run = try reader.run(echo: LinuxGuestHost.echo)
        print(run.commandOutput)
        #expect(run.exitStatus == 0, "second guest console:\n\(run.console)")
        #expect(run.reported("sha") == sha)
        #expect(run.reported("readback") == "second-frontend")
        #expect(blk.process.output.contains("frontend disconnected"))
        #expect(blk.terminate() == 0)
        #expect(try image.sha256(count: 16 * Self.mib) == sha)
        #expect(try image.read(offset: 16 * Self.mib, count: 16) == Data("second-frontend\n".utf8))
    }
}
