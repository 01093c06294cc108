import Foundation
import Testing
import GuestKit

/// `swiftdm vhost-user --net tap=NAME[,mac=MAC][,queues=N]`: its spellings, and the tap it attaches or creates.
@Suite("swiftdm vhost-user --net")
struct VhostUserNetCommandTests {
    /// The spellings are read back from the backend's `serving …` line, so the backend really
    /// attaches a tap: it runs in a network namespace of its own, where it creates `tap0`.
    @Test("tap=NAME, mac=MAC and queues=N, as swiftdm run spells them",
          .enabled(if: LinuxGuestHost.swiftdmAvailable && NetworkNamespace.unavailableReason == nil,
                   "needs the swiftdm executable, root and network namespaces"))
    func spellings() throws {
        let dir = try LinuxGuestHost.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let namespace = try NetworkNamespace(name: "swdm-cli-\(getpid())")
        let cases: [(device: [String], served: String)] = [
            (["--net", "tap=tap0"], "virtio-net on tap tap0"),
            (["--net", "tap=tap0,mac=52:54:00:12:34:56"], "virtio-net on tap tap0 mac 52:54:00:12:34:56"),
            (["--net", "mac=52:54:00:12:34:56,tap=tap0"], "virtio-net on tap tap0 mac 52:54:00:12:34:56"),
            // A multi-queue tap, created with its two queues.
            (["--net", "tap=tap1,queues=2"], "virtio-net on tap tap1 queues=2"),
        ]
        for (i, c) in cases.enumerated() {
            let served = try VhostUserCommandLine.servedDevice(c.device, socket: dir + "/\(i).sock", launcher: namespace.launcher)
            #expect(served == c.served, "\(c.device)")
        }
    }

    @Test("bad --net values and a second device are refused before anything starts",
          .enabled(if: LinuxGuestHost.swiftdmAvailable, "needs the swiftdm executable next to the test bundle"))
    func refusals() throws {
        let dir = try LinuxGuestHost.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for bad in [["--net", "tap="], ["--net", "mac=52:54:00:12:34:56"], ["--net", "tap=0123456789abcdef"],
                    ["--net", "tap=a/b"], ["--net", "tap=t0,mac=01:00:00:00:00:01"], ["--net", "tap=t0,mac=zz"],
                    ["--net", "tap=t0,queues=0"], ["--net", "tap=t0,queues=65"], ["--net", "tap=t0", "--rng"]] {
            #expect(try VhostUserCommandLine.refuses(bad, socket: dir + "/x.sock"), "\(bad)")
        }
    }

    @Test("an interface that is not a tap: one clear error, non-zero exit, no socket",
          .enabled(if: LinuxGuestHost.swiftdmAvailable && access("/dev/net/tun", R_OK | W_OK) == 0,
                   "needs the swiftdm executable and /dev/net/tun"))
    func notATap() throws {
        let dir = try LinuxGuestHost.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = try ConsoleProcess([try LinuxGuestHost.requireSwiftdm(), "vhost-user", "--socket", dir + "/n.sock", "--net", "tap=lo"])
        #expect(p.waitForExit(timeout: .seconds(20)))
        #expect(p.terminationStatus != 0)
        #expect(p.output.contains("cannot attach to tap lo") && p.output.contains("is not a tap"), "\(p.output)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/n.sock"))
    }

    @Test("a tap that does not exist is created and brought up, and goes away with the backend",
          .enabled(if: LinuxGuestHost.swiftdmAvailable && getuid() == 0 && access("/dev/net/tun", R_OK | W_OK) == 0,
                   "needs the swiftdm executable, root and /dev/net/tun"))
    func createsTap() throws {
        let dir = try LinuxGuestHost.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tap = "swdmvu\(getpid() % 100_000)"
        let backend = try VhostUserBackendProcess(socket: dir + "/n.sock", device: ["--net", "tap=\(tap),mac=52:54:00:00:00:07"])
        let flags = try String(contentsOfFile: "/sys/class/net/\(tap)/flags", encoding: .utf8)
        #expect((Int(flags.dropFirst(2).trimmingCharacters(in: .whitespacesAndNewlines), radix: 16) ?? 0) & 1 == 1, "IFF_UP")
        #expect(backend.process.output.contains("tap \(tap): created"))
        #expect(backend.terminate() == 0)
        #expect(access("/sys/class/net/\(tap)", F_OK) != 0, "a tap the backend created is not persistent")
    }
}
