import DeviceModelTesting
import Foundation
import Synchronization
import SwiftdmTestSupport
import Testing

/// Taps need root and /dev/net/tun (and iproute2 to make a persistent one).
private let tapsAvailable: Bool = {
    guard getuid() == 0, access("/dev/net/tun", R_OK | W_OK) == 0, Toolchain.find("ip") != nil else {
        print("SKIP: swiftdm run --net tests need root, /dev/net/tun and iproute2")
        return false
    }
    return true
}()

/// `swiftdm run --net` on this machine's KVM: a small test guest (Tests/Guests/virtio-*-net.asm)
/// drives swiftdm's virtio-net over virtio-mmio, modern and transitional virtio-pci, sends one
/// frame and receives one. The test owns a tap with a unique name in the root namespace (no
/// addresses, IPv6 off: nothing but the test's frames) and plays the network through an
/// AF_PACKET socket on it.
@Suite("swiftdm run --net: a frame each way through virtio-net and a tap",
       .enabled(if: HostRequirements.guests && SwiftdmExecutable.path != nil && tapsAvailable,
                "needs /dev/kvm, nasm, the swiftdm executable, root and /dev/net/tun (see the SKIP lines)"),
       .serialized)
struct RunNetTests {
    static let guestMAC: [UInt8] = [0x52, 0x54, 0x00, 0xAB, 0xCD, 0x01]
    static let hostMAC: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01]
    static let etherType: UInt16 = 0x88B5
    static let reply = "hello guest from the host"

    /// A persistent tap named `name`, up, without IPv6 (so the kernel stays quiet on it);
    /// removed at the end of the test.
    final class TestTap {
        let name: String
        init(name: String) throws {
            self.name = name
            _ = try? Toolchain.run("ip", ["link", "del", name])
            try Toolchain.run("ip", ["tuntap", "add", "dev", name, "mode", "tap"])
            try? "1".write(toFile: "/proc/sys/net/ipv6/conf/\(name)/disable_ipv6", atomically: false, encoding: .utf8)
            try Toolchain.run("ip", ["link", "set", name, "up"])
        }
        deinit { _ = try? Toolchain.run("ip", ["link", "del", name]) }
    }

    @Test(arguments: [("virtio-mmio-net", "mmio"), ("virtio-pci-net", "pci"), ("virtio-pci-net", "pci-transitional")])
    func frameEachWay(guest: String, transport: String) throws {
        let tap = try TestTap(name: "swdmrn\(getpid() % 100_000)")
        let host = try PacketSocket(interface: tap.name)
        let mac = Self.guestMAC.map { String(format: "%02x", $0) }.joined(separator: ":")
        _ = try GuestImages.image(guest)
        let firmware = GuestImages.buildDirectory.appendingPathComponent("\(guest).bin").path

        // swiftdm runs on another thread while this one is the network.
        let outcome = Mutex<SwiftdmExecutable.Outcome?>(nil)
        let failure = Mutex<String?>(nil)
        let arguments = ["run", "--firmware", firmware, "--memory", "64M", "--transport", transport,
                         "--net", "tap=\(tap.name),mac=\(mac)"]
        Thread.detachNewThread {
            do {
                let o = try SwiftdmExecutable.run(arguments, timeout: 120)
                outcome.withLock { $0 = o }
            } catch {
                failure.withLock { $0 = "\(error)" }
            }
        }

        let sent = host.receive(etherType: Self.etherType, timeout: .seconds(90))
        #expect(sent.map { Array($0[0..<6]) } == [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], "broadcast")
        #expect(sent.map { Array($0[6..<12]) } == Self.guestMAC, "from the MAC given with --net")
        #expect(sent.map { String(decoding: $0[14..<33], as: UTF8.self) } == "swiftdm guest frame")
        if sent != nil {
            var frame = Self.guestMAC + Self.hostMAC + [UInt8(Self.etherType >> 8), UInt8(Self.etherType & 0xFF)]
            frame += Array(Self.reply.utf8) + [0]
            frame += [UInt8](repeating: 0, count: max(0, 60 - frame.count))
            try host.send(frame)
        }

        let deadline = ContinuousClock.now + .seconds(150)
        while outcome.withLock({ $0 }) == nil, failure.withLock({ $0 }) == nil, ContinuousClock.now < deadline {
            usleep(20_000)
        }
        if let f = failure.withLock({ $0 }) { Issue.record("swiftdm run: \(f)") }
        guard let o = outcome.withLock({ $0 }) else {
            Issue.record("swiftdm run did not finish")
            return
        }
        #expect(o.status == 0, "stdout:\n\(o.stdout)\nstderr:\n\(o.stderr)")
        for line in ["mac \(mac)", "tx done", "rx len 00000048", "rx num_buffers 00000001", "rx type 000088B5",
                     "rx from 02:00:00:00:00:01", "rx payload \(Self.reply)"] {
            #expect(o.stdout.contains(line + "\n"), "guest said:\n\(o.stdout)")
        }
        #expect(o.stderr.contains("virtio-net activated"), "stderr:\n\(o.stderr)")
    }
}
