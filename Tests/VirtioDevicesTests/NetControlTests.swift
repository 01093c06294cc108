import DeviceModel
import DeviceModelTesting
import Testing
@testable import VirtioDevices

/// The control queue (§5.1.6.5) and offload negotiation, through the transports.
@Suite("virtio-net control and offloads") struct NetControlTests {
    typealias F = VirtioNetFeature
    typealias C = VirtioNetControl
    typealias H = VirtioNetHeader

    static let other: [UInt8] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55]
    static let group: [UInt8] = [0x01, 0x00, 0x5E, 0x00, 0x00, 0x01]
    static let broadcast: [UInt8] = [UInt8](repeating: 0xFF, count: 6)

    /// `struct virtio_net_ctrl_mac` with `entries` addresses.
    static func macTable(_ entries: [[UInt8]]) -> [UInt8] {
        let n = UInt32(entries.count)
        return [UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 24)] + entries.flatMap { $0 }
    }

    /// Injects one frame per destination (payload tagged with its index) and returns the
    /// tags the guest received; the last destination must be one that passes, so the
    /// frames before it have been filtered by the time it arrives.
    static func delivered(_ bed: NetTestbed, to destinations: [[UInt8]]) throws -> [UInt8] {
        try bed.postReceiveBuffers(destinations.count, size: 1536)
        for (i, d) in destinations.enumerated() {
            bed.backend.inject(netHeader() + ethernetFrame(to: d, payload: 64, tag: UInt8(i)))
        }
        var tags: [UInt8] = []
        while tags.last != UInt8(destinations.count - 1) {
            tags += try bed.receivePackets(1).map { $0.last ?? 0xFF }
        }
        return tags
    }

    /// A started device with promiscuous mode turned off (and all-multicast too, unless
    /// `allMulticast`), and its own address.
    static func filtering(_ transport: NetTransport, features: UInt64 = NetTestbed.linuxFeatures,
                          allMulticast: Bool = true) throws -> (NetTestbed, [UInt8]) {
        let bed = try NetTestbed(transport)
        try bed.start(features: features)
        #expect(try bed.control(C.classRx, C.rxPromisc, [[0]]) == C.ok)
        if !allMulticast { #expect(try bed.control(C.classRx, C.rxAllMulti, [[0]]) == C.ok) }
        return (bed, bed.device.configuration.mac.bytes)
    }

    @Test("RX_PROMISC off: frames for other unicast addresses are dropped; own, broadcast, multicast pass",
          arguments: NetTransport.modern)
    func promiscuousOff(transport: NetTransport) throws {
        let bed = try NetTestbed(transport)
        try bed.start()
        let own = bed.device.configuration.mac.bytes
        #expect(try Self.delivered(bed, to: [Self.other, own]) == [0, 1], "promiscuous until told otherwise")
        #expect(try bed.control(C.classRx, C.rxPromisc, [[0]]) == C.ok)
        #expect(try Self.delivered(bed, to: [Self.other, own, Self.broadcast, Self.group]) == [1, 2, 3])
        #expect(bed.device.statistics.rxDroppedByFilter == 1)
        #expect(try bed.control(C.classRx, C.rxAllMulti, [[0]]) == C.ok)
        #expect(try Self.delivered(bed, to: [Self.group, own]) == [1], "all-multicast off, group not in the table")
    }

    @Test("MAC_TABLE_SET: unicast and multicast tables admit their addresses; overflow admits the class",
          arguments: NetTransport.modern)
    func macTable(transport: NetTransport) throws {
        let (bed, own) = try Self.filtering(transport, allMulticast: false)
        #expect(try bed.control(C.classMAC, C.macTableSet, [Self.macTable([Self.other]), Self.macTable([Self.group])]) == C.ok)
        let stranger: [UInt8] = [0x02, 9, 9, 9, 9, 9]
        let otherGroup: [UInt8] = [0x01, 0x00, 0x5E, 0x7F, 0, 1]
        #expect(try Self.delivered(bed, to: [stranger, otherGroup, Self.other, Self.group, own]) == [2, 3, 4])
        // 65 unicast entries: more than the table keeps, so every unicast address passes.
        let many = (0..<65).map { [0x02, 0, 0, 0, 1, UInt8($0)] }
        #expect(try bed.control(C.classMAC, C.macTableSet, [Self.macTable(many), Self.macTable([])]) == C.ok)
        #expect(try Self.delivered(bed, to: [stranger, Self.group, own]) == [0, 2])
        // Fewer bytes than the entry count needs: refused, the filter unchanged.
        #expect(try bed.control(C.classMAC, C.macTableSet, [[3, 0, 0, 0] + Self.other]) == C.error)
    }

    @Test("RX_EXTRA: NOBCAST, NOUNI and ALLUNI", arguments: NetTransport.modern)
    func receiveExtra(transport: NetTransport) throws {
        let (bed, own) = try Self.filtering(transport, features: NetTestbed.linuxFeatures | F.ctrlRxExtra)
        #expect(try bed.control(C.classRx, C.rxNoBroadcast, [[1]]) == C.ok)
        #expect(try Self.delivered(bed, to: [Self.broadcast, own]) == [1])
        #expect(try bed.control(C.classRx, C.rxAllUni, [[1]]) == C.ok)
        #expect(try Self.delivered(bed, to: [Self.other, own]) == [0, 1])
        #expect(try bed.control(C.classRx, C.rxNoUni, [[1]]) == C.ok)
        #expect(try Self.delivered(bed, to: [Self.other, own, Self.group]) == [2])
    }

    @Test("MAC_ADDR_SET: config space shows the new address, the filter follows it, reset restores the original",
          arguments: NetTransport.modern)
    func macAddressSet(transport: NetTransport) throws {
        let bed = try NetTestbed(transport)
        try bed.start()
        let original = bed.device.configuration.mac.bytes
        let generation = bed.driver.configGeneration
        let new: [UInt8] = [0x02, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE]
        #expect(try bed.control(C.classMAC, C.macAddrSet, [new]) == C.ok)
        #expect(try bed.driver.readConfigBytes(offset: 0, count: 6) == new)
        #expect(bed.driver.configGeneration != generation)
        #expect(try bed.control(C.classRx, C.rxPromisc, [[0]]) == C.ok)
        #expect(try Self.delivered(bed, to: [original, new]) == [1])
        #expect(try bed.control(C.classMAC, C.macAddrSet, [[1, 2, 3]]) == C.error, "short address refused")

        try bed.driver.reset()
        #expect(try bed.driver.readConfigBytes(offset: 0, count: 6) == original)
        try bed.start()
        #expect(try Self.delivered(bed, to: [Self.other, original]) == [0, 1], "filter back to promiscuous")
    }

    @Test("commands that were not negotiated or do not exist answer VIRTIO_NET_ERR", arguments: NetTransport.modern)
    func refusedCommands(transport: NetTransport) throws {
        let bed = try NetTestbed(transport)
        try bed.start(features: NetTestbed.linuxFeatures & ~F.ctrlMACAddr)
        #expect(try bed.control(C.classMAC, C.macAddrSet, [Self.other]) == C.error, "CTRL_MAC_ADDR not negotiated")
        #expect(try bed.control(C.classRx, C.rxNoBroadcast, [[1]]) == C.error, "CTRL_RX_EXTRA not negotiated")
        #expect(try bed.control(2, 0, [[1, 0]]) == C.error, "VLAN filtering is not offered")
        #expect(try bed.control(4, 0, [[1, 0]]) == C.error, "MQ is not offered")
        #expect(try bed.control(99, 0) == C.error)
        #expect(try bed.control(C.classRx, C.rxPromisc) == C.error, "missing on/off byte")
        #expect(try bed.driver.readConfigBytes(offset: 0, count: 6) == bed.device.configuration.mac.bytes)
    }

    @Test("negotiated offloads become TUNSETOFFLOAD bits, re-set on every negotiation and on reset",
          arguments: NetTransport.modern)
    func offloadsFollowNegotiation(transport: NetTransport) throws {
        let bed = try NetTestbed(transport)
        let v1 = VirtioTestSpec.Feature.version1
        try bed.start()
        #expect(bed.backend.lastOffloads == .all)
        try bed.driver.reset()
        #expect(bed.backend.lastOffloads == [])
        try bed.start(features: v1 | F.guestCsum | F.guestTSO4)
        #expect(bed.backend.lastOffloads == [.checksum, .tso4])
        try bed.start(features: v1 | F.guestCsum | F.guestTSO6 | F.guestECN)
        #expect(bed.backend.lastOffloads == [.checksum, .tso6, .tsoECN])
        try bed.start(features: v1 | F.guestCsum | F.guestUSO4)
        #expect(bed.backend.lastOffloads == [.checksum], "a tap enables USO for both IP versions or neither")
        // §5.1.3.1: GUEST_TSO4 without GUEST_CSUM is invalid and counts as absent.
        try bed.driver.reset()
        bed.driver.addStatus(VirtioTestSpec.Status.acknowledge | VirtioTestSpec.Status.driver)
        let driverFeatures = try bed.driver.negotiate(exactly: v1 | F.guestTSO4)
        #expect(driverFeatures == v1 | F.guestTSO4)
        _ = try bed.driver.setupQueue(0)
        _ = try bed.driver.setupQueue(1)
        let calls = bed.backend.offloads.withLock { $0.count }
        bed.driver.driverOK()
        #expect(bed.backend.offloads.withLock { $0.count } == calls + 1)
        #expect(bed.backend.lastOffloads == [])
        #expect(bed.driver.status & VirtioTestSpec.Status.deviceNeedsReset == 0)
    }

    @Test("GUEST_OFFLOADS_SET re-sets TUNSETOFFLOAD; bits not negotiated are refused", arguments: NetTransport.modern)
    func guestOffloadsSet(transport: NetTransport) throws {
        let bed = try NetTestbed(transport)
        try bed.start(features: NetTestbed.linuxFeatures & ~(F.guestUSO4 | F.guestUSO6))
        func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> UInt64(8 * $0)) } }
        #expect(try bed.control(C.classGuestOffloads, C.guestOffloadsSet, [le64(F.guestCsum)]) == C.ok)
        #expect(bed.backend.lastOffloads == [.checksum])
        // A TSO frame staged under the old offloads must not reach the guest now.
        try bed.postReceiveBuffers(4, size: 1536)
        bed.backend.inject(netHeader(flags: H.flagNeedsCsum, gsoType: H.gsoTCPv4, gsoSize: 1448) + ethernetFrame(payload: 3000, tag: 1))
        bed.backend.inject(netHeader() + ethernetFrame(payload: 64, tag: 2))
        #expect(try bed.receivePackets(1).map { $0.last } == [2])
        #expect(bed.device.statistics.rxDroppedMalformed == 1)

        #expect(try bed.control(C.classGuestOffloads, C.guestOffloadsSet, [le64(F.guestCsum | F.guestUSO4)]) == C.error)
        #expect(bed.backend.lastOffloads == [.checksum])
        #expect(try bed.control(C.classGuestOffloads, C.guestOffloadsSet, [le64(F.guestCsum | F.guestTSO4 | F.guestTSO6)]) == C.ok)
        #expect(bed.backend.lastOffloads == [.checksum, .tso4, .tso6])
    }
}
