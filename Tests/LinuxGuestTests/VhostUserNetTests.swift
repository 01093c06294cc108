import Foundation
import Testing
import GuestKit

/// What the networking tests need beyond the other real-Linux tests: root and network
/// namespaces, iperf3 on the host, and the guest kit's tools initrd (iperf3 in the guest).
enum NetTestHost {
    static var available: Bool {
        guard LinuxGuestHost.available, LinuxGuestHost.toolsAvailable else { return false }
        if let reason = NetworkNamespace.unavailableReason {
            print("SKIP: real-Linux networking tests: \(reason)")
            return false
        }
        guard HostCommand.exists("iperf3") else {
            print("SKIP: real-Linux networking tests: iperf3 is not installed on the host (apt-get install iperf3)")
            return false
        }
        return true
    }
}

/// Real Linux networking through swiftdm's virtio-net served by `swiftdm vhost-user --net`:
/// the guest kit under QEMU (`-netdev vhost-user` + `virtio-net-pci`) talks to an `iperf3`
/// server on the other side of a tap. The tap, its address and the server live in a network
/// namespace the test creates (swiftdm runs there with `ip netns exec`; QEMU reaches it over
/// the UNIX socket), so no packet leaves that namespace.
@Suite("Linux guest networking on swiftdm vhost-user-net",
       .enabled(if: NetTestHost.available, "needs root, network namespaces, iperf3, QEMU and the guest kit (see the SKIP line)"),
       .serialized)
struct VhostUserNetTests {
    static let tap = "swdmtap0"
    static let hostAddress = "10.77.0.1"
    static let guestAddress = "10.77.0.2"
    static let guestMAC = "52:54:00:77:00:02"

    /// A namespace with the tap and an iperf3 server bound to the tap's address.
    static func network() throws -> IperfTapNetwork {
        try IperfTapNetwork(namespaceName: "swdm-net-\(getpid())", tap: tap, hostAddress: hostAddress, echo: LinuxGuestHost.echo)
    }

    /// Boots the guest kit with `device`, QEMU under `launcher`, and runs the iperf3 script.
    static func runGuest(_ device: QemuGuest.Device, launcher: [String] = [], seconds: Int) throws -> GuestRun {
        var guest = QemuGuest(kit: try LinuxGuestHost.requireKit(), machine: .q35, devices: [device],
                              command: IperfGuestScript(hostAddress: hostAddress, guestAddress: guestAddress, seconds: seconds).text,
                              useToolsInitrd: true)
        guest.launcher = launcher
        return try guest.run(echo: LinuxGuestHost.echo)
    }

    /// Bit `n` of the guest's `/sys/bus/virtio/devices/*/features` string (one character per bit).
    static func featureBit(_ n: Int, in run: GuestRun) -> Bool {
        guard let bits = run.reported("vfeatures"), n < bits.count else { return false }
        return bits[bits.index(bits.startIndex, offsetBy: n)] == "1"
    }

    @Test("q35 + vhost-user virtio-net-pci on a tap in a network namespace: ping, iperf3 both ways, checksum offload and TSO")
    func iperfThroughTap() throws {
        let network = try Self.network()
        let dir = try LinuxGuestHost.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let backend = try VhostUserBackendProcess(socket: dir + "/net.sock", device: ["--net", "tap=\(Self.tap)"],
                                         launcher: network.launcher)
        let run = try Self.runGuest(.net(socket: backend.socket, mac: Self.guestMAC), seconds: 3)
        print(run.commandOutput)
        #expect(run.exitStatus == 0, "guest console:\n\(run.console)")
        #expect(run.reported("driver") == "virtio_net")
        #expect(run.reported("ping-status") == "0")
        #expect(run.reported("up-status") == "0")
        #expect(run.reported("down-status") == "0")
        let up = IperfResult(run, direction: .guestToHost)
        let down = IperfResult(run, direction: .hostToGuest)
        #expect((up?.megabytes ?? 0) > 1, "guest→host bytes moved")
        #expect((down?.megabytes ?? 0) > 1, "host→guest bytes moved")
        #expect(run.reported("rx_errors") == "0" && run.reported("tx_errors") == "0")
        // virtio 1.2 §5.1.3: CSUM 0, GUEST_CSUM 1, GUEST_TSO4 7, GUEST_TSO6 8, HOST_TSO4 11,
        // HOST_TSO6 12, MRG_RXBUF 15 — negotiated, as the guest and the device both say.
        for bit in [0, 1, 7, 8, 11, 12, 15] {
            #expect(Self.featureBit(bit, in: run), "feature bit \(bit) negotiated (guest: \(run.reported("vfeatures") ?? "?"))")
        }
        #expect(backend.terminate() == 0)
        let log = backend.process.output
        let activation = log.split(separator: "\n").first { $0.contains("virtio-net activated") }.map(String.init) ?? ""
        for name in ["CSUM", "GUEST_CSUM", "HOST_TSO4", "HOST_TSO6", "GUEST_TSO4", "GUEST_TSO6", "MRG_RXBUF"] {
            #expect(activation.contains(" \(name)") || activation.contains("[\(name)"), "device logged \(name): \(activation)")
        }
        #expect(!log.contains("needs reset"), "backend log:\n\(log)")
        print("swiftdm vhost-user-net: guest→host \(up.map(String.init(describing:)) ?? "?"), host→guest \(down.map(String.init(describing:)) ?? "?")")
        print(log.split(separator: "\n").filter { $0.contains("virtio-net") }.joined(separator: "\n"))
    }

    @Test("closing numbers: iperf3 through swiftdm's vhost-user-net next to QEMU's own virtio-net (-netdev tap,vhost=off), same guest")
    func throughputComparison() throws {
        let network = try Self.network()
        let dir = try LinuxGuestHost.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let seconds = 5

        let backend = try VhostUserBackendProcess(socket: dir + "/net.sock", device: ["--net", "tap=\(Self.tap)"],
                                         launcher: network.launcher)
        let swiftdm = try Self.runGuest(.net(socket: backend.socket, mac: Self.guestMAC), seconds: seconds)
        #expect(backend.terminate() == 0)
        // The tap is persistent: QEMU attaches to the same one, in the namespace, once swiftdm let go.
        let qemu = try Self.runGuest(.tapNet(ifname: Self.tap, mac: Self.guestMAC),
                                     launcher: network.launcher, seconds: seconds)

        let rows: [(String, GuestRun)] = [("swiftdm vhost-user-net", swiftdm), ("QEMU virtio-net, tap, vhost=off", qemu)]
        print("BENCH: iperf3 \(seconds) s each way, guest kit on q35 (\(QemuAccelerator.preferred)), virtio-net-pci, tap in a network namespace")
        for (name, run) in rows {
            #expect(run.exitStatus == 0, "\(name) guest console:\n\(run.console)")
            let up = IperfResult(run, direction: .guestToHost)
            let down = IperfResult(run, direction: .hostToGuest)
            #expect(up != nil && down != nil, "\(name): no iperf3 result\n\(run.commandOutput)")
            print("BENCH: \(name): guest→host \(up.map(String.init(describing:)) ?? "-"), host→guest \(down.map(String.init(describing:)) ?? "-")")
        }
    }
}
