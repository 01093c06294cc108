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

    /// A namespace with the tap (multi-queue if asked) and an iperf3 server bound to the tap's address.
    static func network(multiQueue: Bool = false) throws -> IperfTapNetwork {
        try IperfTapNetwork(namespaceName: "swdm-net-\(getpid())", tap: tap, hostAddress: hostAddress, multiQueue: multiQueue,
                            echo: LinuxGuestHost.echo)
    }

    /// Boots the guest kit with `device`, QEMU under `launcher`, and runs the iperf3 script.
    static func runGuest(_ device: QemuGuest.Device, launcher: [String] = [], seconds: Int, queues: Int = 1) throws -> GuestRun {
        var guest = QemuGuest(kit: try LinuxGuestHost.requireKit(), machine: .q35, devices: [device],
                              command: IperfGuestScript(hostAddress: hostAddress, guestAddress: guestAddress, seconds: seconds,
                                                        queues: queues).text,
                              useToolsInitrd: true)
        guest.launcher = launcher
        return try guest.run(echo: LinuxGuestHost.echo)
    }

    /// Bit `n` of the guest's `/sys/bus/virtio/devices/*/features` string (one character per bit).
    static func featureBit(_ n: Int, in run: GuestRun) -> Bool {
        guard let bits = run.reported("vfeatures"), n < bits.count else { return false }
        return bits[bits.index(bits.startIndex, offsetBy: n)] == "1"
    }

    @Test("q35 + vhost-user virtio-net-pci, 2 queue pairs on a multi-queue tap in a network namespace: ping from each vCPU, iperf3 both ways, checksum offload and TSO")
    func iperfThroughTap() throws {
        let network = try Self.network(multiQueue: true)
        let dir = try LinuxGuestHost.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let backend = try VhostUserBackendProcess(socket: dir + "/net.sock", device: ["--net", "tap=\(Self.tap),queues=2"],
                                         launcher: network.launcher)
        let run = try Self.runGuest(.net(socket: backend.socket, mac: Self.guestMAC, queues: 2), seconds: 3, queues: 2)
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
        // Multiqueue: MQ (bit 22) negotiated, Linux runs two pairs (one per vCPU), and a ping
        // from each vCPU gets its answer.
        #expect(Self.featureBit(22, in: run), "MQ negotiated (guest: \(run.reported("vfeatures") ?? "?"))")
        let netQueues = Set((run.reported("netqueues") ?? "").split(separator: ",").map(String.init))
        #expect(netQueues == ["rx-0", "rx-1", "tx-0", "tx-1"], "guest queues: \(netQueues)")
        #expect(run.reported("ping-cpu0") == "0")
        #expect(run.reported("ping-cpu1") == "0")
        #expect(backend.terminate() == 0)
        let log = backend.process.output
        let activation = log.split(separator: "\n").first { $0.contains("virtio-net activated") }.map(String.init) ?? ""
        for name in ["CSUM", "GUEST_CSUM", "HOST_TSO4", "HOST_TSO6", "GUEST_TSO4", "GUEST_TSO6", "MRG_RXBUF"] {
            #expect(activation.contains(" \(name)") || activation.contains("[\(name)"), "device logged \(name): \(activation)")
        }
        #expect(!log.contains("needs reset"), "backend log:\n\(log)")
        // The second pair carried frames (its own thread and tap queue): the device's
        // per-pair counts, logged at each stop.
        let secondPair = log.split(separator: "\n").compactMap { line -> Int? in
            guard let r = line.range(of: "1: tx ") else { return nil }
            let words = line[r.upperBound...].split(separator: " ")
            guard words.count >= 3, let tx = Int(words[0]), let rx = Int(words[2].trimmingCharacters(in: .punctuationCharacters)) else { return nil }
            return tx + rx
        }.reduce(0, +)
        #expect(secondPair > 0, "frames on queue pair 1 (backend log:\n\(log))")
        print("swiftdm vhost-user-net: guest→host \(up.map(String.init(describing:)) ?? "?"), host→guest \(down.map(String.init(describing:)) ?? "?")")
        print(log.split(separator: "\n").filter { $0.contains("virtio-net") }.joined(separator: "\n"))
    }

    @Test("closing numbers: iperf3 through swiftdm's vhost-user-net next to QEMU's own virtio-net (-netdev tap,vhost=off), same guest, one queue pair and two")
    func throughputComparison() throws {
        let dir = try LinuxGuestHost.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let seconds = 5

        var rows: [(String, GuestRun)] = []
        for queues in [1, 2] {
            // A namespace per round: a tap is multi-queue or not from its creation.
            let network = try Self.network(multiQueue: queues > 1)
            let backend = try VhostUserBackendProcess(socket: dir + "/net.sock", device: ["--net", "tap=\(Self.tap),queues=\(queues)"],
                                                      launcher: network.launcher)
            let swiftdm = try Self.runGuest(.net(socket: backend.socket, mac: Self.guestMAC, queues: queues), seconds: seconds)
            #expect(backend.terminate() == 0)
            // The tap is persistent: QEMU attaches to the same one, in the namespace, once swiftdm let go.
            let qemu = try Self.runGuest(.tapNet(ifname: Self.tap, mac: Self.guestMAC, queues: queues),
                                         launcher: network.launcher, seconds: seconds)
            let pairs = queues == 1 ? "" : ", \(queues) queue pairs"
            rows += [("swiftdm vhost-user-net\(pairs)", swiftdm), ("QEMU virtio-net, tap, vhost=off\(pairs)", qemu)]
        }

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
