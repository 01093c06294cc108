import DeviceModel
import DeviceModelTesting
import Glibc
import Testing
@testable import VirtioDevices
import VirtioTesting

/// virtio-net through its transports, driven as Linux's virtio_net drives it: probe and
/// feature negotiation, rx/tx/ctrl queues, and the data path against a socketpair backend.
@Suite("virtio-net data path") struct NetTests {
    typealias F = VirtioNetFeature
    typealias H = VirtioNetHeader

    @Test("Linux-style probe: features negotiated, config space readable, offloads set", arguments: NetTransport.modern)
    func probe(transport: NetTransport) throws {
        let bed = try NetTestbed(transport)
        let features = try bed.start()
        for f in [F.csum, F.guestCsum, F.hostTSO4, F.hostTSO6, F.guestTSO4, F.guestTSO6, F.mergeableRxBuffers,
                  F.ctrlVQ, F.ctrlRx, F.ctrlMACAddr, F.mtu, F.mac, F.status, VirtioTestSpec.Feature.eventIndex] {
            #expect(features & f != 0, "feature \(F.describe(f)) not negotiated")
        }
        #expect(features & (F.ctrlVLAN | F.mq | F.guestAnnounce) == 0, "not offered, so not negotiated")
        #expect(bed.driver.status & VirtioTestSpec.Status.driverOK != 0)
        let config = try bed.driver.readConfigBytes(offset: 0, count: 12)
        #expect(Array(config[0..<6]) == bed.device.configuration.mac.bytes)
        #expect(config[6] == 1 && config[7] == 0, "VIRTIO_NET_S_LINK_UP")
        #expect(Int(config[10]) | Int(config[11]) << 8 == 1500, "mtu")
        #expect([bed.rx.size, bed.tx.size, bed.ctrl?.size] == [16, 16, 64])
        #expect(bed.backend.lastOffloads == .all, "TUNSETOFFLOAD gets every receive offload Linux negotiated")
    }

    @Test("tx: header and frame reach the backend untouched, gathered from direct and indirect chains",
          arguments: NetTransport.modern)
    func transmit(transport: NetTransport) throws {
        let bed = try NetTestbed(transport)
        try bed.start()
        let header = netHeader(flags: H.flagNeedsCsum, csumStart: 34, csumOffset: 16)
        let packets = [header + ethernetFrame(payload: 100, tag: 1), header + ethernetFrame(payload: 1400, tag: 2),
                       header + ethernetFrame(payload: 60, tag: 3)]
        try bed.transmit(packets[0])
        #expect(bed.backend.nextSent() == packets[0])
        try bed.transmit(packets[1], parts: 4)
        #expect(bed.backend.nextSent() == packets[1])
        try bed.transmit(packets[2], parts: 3, indirect: true)
        #expect(bed.backend.nextSent() == packets[2])
        // A chain of many tiny buffers (more than the device nests memory scopes for) is
        // copied into one staging buffer: the frame arrives the same.
        try bed.transmit(packets[1], parts: 400, indirect: true)
        #expect(bed.backend.nextSent() == packets[1])
        var done: [VirtioTestCompletion] = []
        while done.count < 4 { done += try bed.driver.waitForUsed(bed.tx) }
        #expect(done.map(\.length) == [0, 0, 0, 0])
        #expect(bed.tx.freeCount == Int(bed.tx.size))
        #expect(bed.device.statistics.txFrames == 4)
        #expect(try bed.driver.waitForInterrupt().usedBuffers)
    }

    @Test("rx without MRG_RXBUF: 12-byte header passed through, num_buffers = 1", arguments: NetTransport.modern)
    func receiveSingleBuffer(transport: NetTransport) throws {
        let bed = try NetTestbed(transport)
        try bed.start(features: NetTestbed.linuxFeatures & ~F.mergeableRxBuffers)
        try bed.postReceiveBuffers(2, size: H.size + 1518)
        let header = netHeader(flags: H.flagNeedsCsum, csumStart: 34, csumOffset: 16)
        let frame = ethernetFrame(payload: 500)
        bed.backend.inject(header + frame)
        let got = try bed.receivePackets(1)[0]
        #expect(got.count == H.size + frame.count)
        #expect(Array(got[0..<10]) == Array(header[0..<10]), "flags, GSO and checksum fields untouched")
        #expect(got[10] == 1 && got[11] == 0, "num_buffers")
        #expect(Array(got[H.size...]) == frame)
        #expect(bed.device.statistics.rxFrames == 1)
    }

    @Test("rx without GUEST_CSUM: flags cleared, partially checksummed frames not delivered",
          arguments: NetTransport.modern)
    func receiveWithoutGuestChecksum(transport: NetTransport) throws {
        let bed = try NetTestbed(transport)
        try bed.start(features: VirtioTestSpec.Feature.version1 | F.mac)
        #expect(bed.backend.lastOffloads == [])
        try bed.postReceiveBuffers(2, size: H.size + 1518)
        bed.backend.inject(netHeader(flags: H.flagNeedsCsum, csumStart: 34, csumOffset: 16) + ethernetFrame(payload: 64, tag: 1))
        bed.backend.inject(netHeader(flags: H.flagDataValid) + ethernetFrame(payload: 64, tag: 2))
        let got = try bed.receivePackets(1)[0]
        #expect(got[0] == 0, "§5.1.6.4.1: flags zero without GUEST_CSUM")
        #expect(got.last == 2)
        #expect(bed.device.statistics.rxDroppedMalformed == 1)
    }

    @Test("rx with MRG_RXBUF: a packet larger than one buffer spans several, all published together",
          arguments: NetTransport.modern)
    func receiveMergeable(transport: NetTransport) throws {
        let bed = try NetTestbed(transport)
        try bed.start()
        try bed.postReceiveBuffers(4, size: 1536)
        let frame = ethernetFrame(to: bed.device.configuration.mac.bytes, etherType: 0x0800, payload: 3986)
        // A TSO frame (above the MTU, so segmented): 4000 bytes + the header → 3 buffers.
        let header = netHeader(flags: H.flagNeedsCsum, gsoType: H.gsoTCPv4, headerLength: 66, gsoSize: 1448,
                               csumStart: 34, csumOffset: 16)
        bed.backend.inject(header + frame)
        // The first time the driver sees the used index move, all three are there (§5.1.6.4.1).
        let used = try bed.driver.waitForUsed(bed.rx, count: 1)
        #expect(used.map(\.length) == [1536, 1536, UInt32(H.size + frame.count - 2 * 1536)])
        let packet = used.flatMap(\.written)
        #expect(Array(packet[0..<10]) == Array(header[0..<10]))
        #expect(packet[10] == 3 && packet[11] == 0, "num_buffers")
        #expect(Array(packet[H.size...]) == frame)
    }

    @Test("rx big packets (GUEST_TSO4, no MRG_RXBUF): a GSO frame fills one chain of page-sized descriptors",
          arguments: NetTransport.modern)
    func receiveBigPacket(transport: NetTransport) throws {
        let bed = try NetTestbed(transport, configuration: VirtioNetConfiguration(queueSize: 256))
        try bed.start(features: NetTestbed.linuxFeatures & ~F.mergeableRxBuffers)
        // add_recvbuf_big: the header in its own descriptor, then pages, through an indirect table.
        try bed.rx.submit(writable: [H.size] + [Int](repeating: 4096, count: 17), indirect: true)
        try bed.driver.kick(bed.rx)
        let header = netHeader(flags: H.flagNeedsCsum, gsoType: H.gsoTCPv4, headerLength: 66, gsoSize: 1448,
                               csumStart: 34, csumOffset: 16)
        let frame = ethernetFrame(to: bed.device.configuration.mac.bytes, etherType: 0x0800, payload: 20_000)
        bed.backend.inject(header + frame)
        let got = try bed.receivePackets(1)[0]
        #expect(Array(got[0..<10]) == Array(header[0..<10]))
        #expect(got[10] == 1)
        #expect(Array(got[H.size...]) == frame)
    }

    @Test("rx without MRG_RXBUF: a frame larger than the buffer is dropped and the buffer kept for the next",
          arguments: NetTransport.modern)
    func receiveTooLargeForBuffer(transport: NetTransport) throws {
        let bed = try NetTestbed(transport)
        try bed.start(features: VirtioTestSpec.Feature.version1 | F.mac)
        let buffer = try bed.rx.submit(writable: [H.size + 1518])
        try bed.driver.kick(bed.rx)
        bed.backend.inject(netHeader() + ethernetFrame(payload: 3000, tag: 1))
        bed.backend.inject(netHeader() + ethernetFrame(payload: 100, tag: 2))
        let used = try bed.driver.waitForUsed(bed.rx)
        #expect(used.count == 1 && used[0].request.head == buffer.head)
        #expect(used[0].written.last == 2 && used[0].length == UInt32(H.size + 114))
        #expect(bed.device.statistics.rxDroppedTooLarge == 1)
    }

    @Test("rx with MRG_RXBUF: a frame larger than the whole ring is dropped instead of stalling it",
          arguments: NetTransport.modern)
    func receiveLargerThanRing(transport: NetTransport) throws {
        let bed = try NetTestbed(transport)
        try bed.start(features: NetTestbed.linuxFeatures & ~F.mtu)
        try bed.postReceiveBuffers(16, size: 256)   // 4 KiB in all
        bed.backend.inject(netHeader() + ethernetFrame(payload: 9000, tag: 1))
        bed.backend.inject(netHeader() + ethernetFrame(payload: 300, tag: 2))
        let packets = try bed.receivePackets(1)
        #expect(packets[0].count == H.size + 314 && packets[0].last == 2)
        #expect(bed.device.statistics.rxDroppedTooLarge == 1)
    }

    @Test("rx with VIRTIO_NET_F_MTU: unsegmented frames above the MTU are not delivered", arguments: NetTransport.modern)
    func receiveAboveMTU(transport: NetTransport) throws {
        let bed = try NetTestbed(transport)
        try bed.start()
        try bed.postReceiveBuffers(8, size: 1536)
        bed.backend.inject(netHeader() + ethernetFrame(payload: 1501, tag: 1))
        bed.backend.inject(netHeader() + ethernetFrame(payload: 1500, tag: 2))
        let packets = try bed.receivePackets(1)
        #expect(packets[0].last == 2)
        #expect(bed.device.statistics.rxDroppedTooLarge == 1)
    }

    @Test("legacy driver without MRG_RXBUF: 10-byte header on rx and tx; the backend still sees 12",
          arguments: NetTransport.legacy)
    func legacyHeader(transport: NetTransport) throws {
        let bed = try NetTestbed(transport)
        try bed.start(features: F.mac | F.csum | F.guestCsum | F.ctrlVQ | F.ctrlRx)
        #expect(bed.headerLength == H.legacySize)
        // Linux's legacy small buffers: sg[0] = the 10-byte header, sg[1] = the packet.
        try bed.rx.submit(writable: [H.legacySize, 1518])
        try bed.driver.kick(bed.rx)
        let frame = ethernetFrame(payload: 200)
        bed.backend.inject(netHeader(flags: H.flagNeedsCsum, csumStart: 34, csumOffset: 6, numBuffers: 1) + frame)
        let got = try bed.receivePackets(1)[0]
        #expect(got.count == H.legacySize + frame.count)
        #expect(Array(got[0..<10]) == Array(netHeader(flags: H.flagNeedsCsum, csumStart: 34, csumOffset: 6)[0..<10]))
        #expect(Array(got[H.legacySize...]) == frame)

        let sent = netHeader(flags: H.flagNeedsCsum, csumStart: 34, csumOffset: 16)[0..<10] + ethernetFrame(payload: 80)
        try bed.transmit(Array(sent), parts: 3)
        let onWire = bed.backend.nextSent()
        #expect(onWire == Array(sent[0..<10]) + [0, 0] + Array(sent[10...]))
    }

    @Test("legacy driver with MRG_RXBUF: the 12-byte header", arguments: NetTransport.legacy)
    func legacyMergeableHeader(transport: NetTransport) throws {
        let bed = try NetTestbed(transport)
        try bed.start(features: F.mac | F.mergeableRxBuffers)
        #expect(bed.headerLength == H.size)
        try bed.postReceiveBuffers(2, size: 1536)
        bed.backend.inject(netHeader() + ethernetFrame(payload: 100))
        let got = try bed.receivePackets(1)[0]
        #expect(got.count == H.size + 114 && got[10] == 1)
    }

    @Test("rx back-pressure: without buffers the backend is not read; buffers and a kick resume it, nothing lost",
          arguments: NetTransport.modern)
    func backPressure(transport: NetTransport) throws {
        let bed = try NetTestbed(transport)
        try bed.start(features: NetTestbed.linuxFeatures & ~VirtioTestSpec.Feature.eventIndex)
        for tag in 1...6 { bed.backend.inject(netHeader() + ethernetFrame(payload: 64, tag: UInt8(tag))) }
        #expect(bed.wait { bed.device.statistics.rxPauses == 1 })
        // One frame staged, the rest still queued in the backend; nothing spins meanwhile.
        #expect(bed.backend.framesRead.load(ordering: .relaxed) == 1)
        var pause = timespec(tv_sec: 0, tv_nsec: 100_000_000)
        nanosleep(&pause, nil)
        #expect(bed.backend.framesRead.load(ordering: .relaxed) == 1)
        #expect(bed.device.statistics.rxPauses == 1)
        #expect(try bed.rx.usedFlags() & VirtioTestSpec.usedNoNotify == 0, "the device asks to be kicked for buffers")
        try bed.postReceiveBuffers(3, size: 1536)
        #expect(try bed.receivePackets(3).map { $0.last } == [1, 2, 3])
        try bed.postReceiveBuffers(3, size: 1536)
        #expect(try bed.receivePackets(3).map { $0.last } == [4, 5, 6])
        #expect(bed.device.statistics.rxFrames == 6)
        #expect(bed.backend.framesRead.load(ordering: .relaxed) == 6)
    }

    @Test("tx back-pressure: a full backend parks the chain until it drains; order kept, nothing lost",
          arguments: NetTransport.modern)
    func transmitBackPressure(transport: NetTransport) throws {
        let bed = try NetTestbed(transport, backend: SocketPairPacketBackend(sendBuffer: 4096))
        try bed.start()
        let packets = (0..<12).map { netHeader() + ethernetFrame(payload: 1400, tag: UInt8($0)) }
        for p in packets { try bed.tx.submit(readable: [p]) }
        try bed.driver.kick(bed.tx)
        #expect(bed.wait { bed.device.statistics.txStalls > 0 })
        #expect(bed.device.statistics.txFrames < 12)
        var received: [[UInt8]] = []
        while received.count < 12, let p = bed.backend.nextSent() { received.append(p) }
        #expect(received == packets)
        var done = 0
        while done < 12 { done += try bed.driver.waitForUsed(bed.tx).count }
        #expect(bed.device.statistics.txFrames == 12)
    }

    @Test("EVENT_IDX: used_event suppresses interrupts, avail_event asks for the next kick", arguments: NetTransport.modern)
    func eventIndex(transport: NetTransport) throws {
        let bed = try NetTestbed(transport)
        try bed.start()
        #expect(bed.tx.eventIndex)
        // The first completion always interrupts (the device has no earlier decision to
        // compare with, as vhost's signalled_used_valid).
        try bed.transmit(netHeader() + ethernetFrame(payload: 64, tag: 0))
        _ = try bed.driver.waitForUsed(bed.tx)
        #expect(try bed.driver.waitForInterrupt().usedBuffers)
        // virtqueue_enable_cb_delayed-style: interrupt only when used.idx passes 2.
        try bed.tx.setUsedEvent(2)
        try bed.transmit(netHeader() + ethernetFrame(payload: 64, tag: 1))
        _ = try bed.driver.waitForUsed(bed.tx)
        _ = bed.device.statistics   // the I/O thread has finished that round
        #expect(bed.driver.takeInterrupt() == nil, "no interrupt before used.idx passes used_event")
        #expect(try bed.tx.availEvent() == bed.tx.availIndex, "the device wants a kick for the next frame")
        try bed.transmit(netHeader() + ethernetFrame(payload: 64, tag: 2))
        _ = try bed.driver.waitForUsed(bed.tx)
        #expect(try bed.driver.waitForInterrupt().usedBuffers)
        #expect(bed.device.statistics.txFrames == 3)
        while bed.backend.nextSent(timeoutMs: 0) != nil {}
    }

    @Test("reset mid-traffic: the device stops at once, the driver starts over, frames keep flowing",
          arguments: NetTransport.modern)
    func resetMidTraffic(transport: NetTransport) throws {
        let bed = try NetTestbed(transport)
        try bed.start()
        for tag in 0..<30 { bed.backend.inject(netHeader() + ethernetFrame(payload: 64, tag: UInt8(tag))) }
        try bed.postReceiveBuffers(10, size: 1536)
        #expect(try bed.receivePackets(10).map { $0.last } == (0..<10).map { UInt8($0) })
        #expect(bed.wait { bed.backend.framesRead.load(ordering: .relaxed) == 11 })   // frame 10 staged, waiting
        let big = netHeader() + ethernetFrame(payload: 1400)
        for _ in 0..<8 { try bed.tx.submit(readable: [big]) }
        try bed.driver.kick(bed.tx)
        try bed.driver.reset()
        #expect(bed.driver.status == 0)
        #expect(bed.device.statistics == VirtioNetDevice.Statistics(), "no data path after reset")
        #expect(bed.backend.lastOffloads == [], "offloads off until the next negotiation")
        while bed.backend.nextSent(timeoutMs: 100) != nil {}

        try bed.start()
        try bed.postReceiveBuffers(16, size: 1536)
        // The staged frame went with the reset, as on a NIC; everything after it arrives.
        #expect(try bed.receivePackets(16).map { $0.last } == (11..<27).map { UInt8($0) })
        try bed.postReceiveBuffers(3, size: 1536)
        #expect(try bed.receivePackets(3).map { $0.last } == [27, 28, 29])
        try bed.transmit(big)
        #expect(bed.backend.nextSent() == big)
    }
}
