import DeviceModel
import DeviceModelTesting
import HostIO
import Logging
import Synchronization
import Testing
import Virtio
@testable import VirtioDevices
import VirtioTesting

/// A ``SocketPairPacketBackend`` that records the threads it is called on.
final class ThreadNamingBackend: PacketBackend {
    let inner = SocketPairPacketBackend()
    let senders = Mutex<Set<String>>([])
    let receivers = Mutex<Set<String>>([])
    var pollFD: Int32 { inner.pollFD }
    var supportedOffloads: PacketOffloads { inner.supportedOffloads }
    func send(_ segments: [UnsafeRawBufferPointer]) throws(PacketBackendError) -> Int? {
        let name = currentThreadName()
        senders.withLock { _ = $0.insert(name) }
        return try inner.send(segments)
    }
    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(PacketBackendError) -> Int? {
        let name = currentThreadName()
        receivers.withLock { _ = $0.insert(name) }
        return try inner.receive(into: buffer)
    }
    func setOffloads(_ offloads: PacketOffloads) throws(PacketBackendError) { try inner.setOffloads(offloads) }
}

/// A backend that, like a multi-queue tap's queue, can be detached; records each change.
final class SteeredBackend: QueueSteeredPacketBackend {
    let inner = SocketPairPacketBackend()
    let attachments = Mutex<[Bool]>([])
    var pollFD: Int32 { inner.pollFD }
    var supportedOffloads: PacketOffloads { inner.supportedOffloads }
    func send(_ segments: [UnsafeRawBufferPointer]) throws(PacketBackendError) -> Int? { try inner.send(segments) }
    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(PacketBackendError) -> Int? { try inner.receive(into: buffer) }
    func setOffloads(_ offloads: PacketOffloads) throws(PacketBackendError) { try inner.setOffloads(offloads) }
    func setQueueAttached(_ attached: Bool) throws(PacketBackendError) { attachments.withLock { $0.append(attached) } }
}

/// A three-pair virtio-net device on a transport, driven as Linux's virtio_net does with MQ.
final class MultiQueueNetBed {
    static let pairs = 3
    let backends = (0..<MultiQueueNetBed.pairs).map { _ in ThreadNamingBackend() }
    let device: VirtioNetDevice
    let driver: VirtioTestDriver
    private let attachment: DeviceOnTransport<VirtioNetDevice>
    var rx: [VirtioTestQueue] = []
    var tx: [VirtioTestQueue] = []
    var ctrl: VirtioTestQueue?

    init(_ transport: NetTransport, features: UInt64 = NetTestbed.linuxFeatures) throws {
        var logger = Logger(label: "test.virtio-net-mq")
        logger.logLevel = .warning
        device = try VirtioNetDevice(configuration: VirtioNetConfiguration(queueSize: 16, queuePairs: Self.pairs),
                                     backends: backends, logger: logger)
        attachment = try DeviceOnTransport(transport, device: device)
        driver = attachment.driver
        let negotiated = try driver.initialize(features: features)
        for pair in 0..<Self.pairs {
            rx.append(try driver.setupQueue(2 * pair))
            tx.append(try driver.setupQueue(2 * pair + 1))
        }
        if negotiated & VirtioNetFeature.ctrlVQ != 0 { ctrl = try driver.setupQueue(2 * Self.pairs) }
        driver.driverOK()
    }

    /// Sends `VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET` with `data` and returns the ack byte.
    func setPairs(_ data: [UInt8]) throws -> UInt8 {
        guard let ctrl else { throw TestbedError("no control queue") }
        try ctrl.submit(readable: [[VirtioNetControl.classMQ, VirtioNetControl.mqVQPairsSet], data], writable: [1])
        try driver.kick(ctrl)
        let done = try driver.waitForUsed(ctrl)
        guard done.count == 1, done[0].length == 1 else { throw TestbedError("control completion \(done)") }
        return done[0].written[0]
    }

    /// One frame through pair `pair` in each direction; returns what the guest received.
    func exchange(on pair: Int, tag: UInt8) throws -> (sent: [UInt8]?, received: [UInt8]) {
        let frame = ethernetFrame(payload: 60, tag: tag)
        try tx[pair].submit(readable: [netHeader() + frame])
        try driver.kick(tx[pair])
        let sent = backends[pair].inner.nextSent()
        try rx[pair].submit(writable: [2048])
        try driver.kick(rx[pair])
        backends[pair].inner.inject(netHeader() + frame)
        let used = try driver.waitForUsed(rx[pair])
        return (sent, used.flatMap(\.written))
    }
}

@Suite("virtio-net multiqueue")
struct NetMultiQueueTests {
    typealias C = VirtioNetControl

    @Test("MQ offered with max_virtqueue_pairs; 2N+1 queues; one backend per pair")
    func configuration() throws {
        let device = try VirtioNetDevice(configuration: VirtioNetConfiguration(queuePairs: 4),
                                         backends: (0..<4).map { _ in SocketPairPacketBackend() })
        #expect(device.offeredFeatures & VirtioNetFeature.mq != 0)
        #expect(device.queueMaxSizes.count == 9)
        #expect(device.queueMaxSizes.last == VirtioNetDevice.ctrlQueueSize)
        #expect(Array(device.readConfig()[8..<10]) == [4, 0])
        let single = try VirtioNetDevice(configuration: VirtioNetConfiguration(), backend: SocketPairPacketBackend())
        #expect(single.offeredFeatures & VirtioNetFeature.mq == 0)
        #expect(Array(single.readConfig()[8..<10]) == [1, 0])
        #expect(throws: VirtioNetError.backendCount(backends: 1, queuePairs: 2)) {
            try VirtioNetDevice(configuration: VirtioNetConfiguration(queuePairs: 2), backends: [SocketPairPacketBackend()])
        }
        #expect(throws: VirtioNetError.invalidQueuePairs(0)) {
            try VirtioNetDevice(configuration: VirtioNetConfiguration(queuePairs: 0), backends: [])
        }
    }

    @Test("VQ_PAIRS_SET: out-of-range and short values are VIRTIO_NET_ERR; pair 2 carries packets once enabled, on its own thread",
          arguments: NetTransport.modern)
    func pairsSet(transport: NetTransport) throws {
        let bed = try MultiQueueNetBed(transport)
        #expect(bed.driver.features & VirtioNetFeature.mq != 0)
        #expect(try bed.driver.readConfigBytes(offset: 8, count: 2) == [3, 0])
        // Hostile counts: zero, one above max_virtqueue_pairs, the largest le16, a short command.
        for hostile: [UInt8] in [[0, 0], [4, 0], [0xFF, 0xFF], [0x00, 0x80], [2]] {
            #expect(try bed.setPairs(hostile) == C.error, "\(hostile)")
        }
        #expect(bed.driver.status & VirtioTestSpec.Status.deviceNeedsReset == 0)
        // Until the driver enables it, pair 2 reads nothing from its backend.
        let early = ethernetFrame(payload: 40, tag: 0x77)
        try bed.rx[2].submit(writable: [2048])
        try bed.driver.kick(bed.rx[2])
        bed.backends[2].inner.inject(netHeader() + early)
        bed.device.loops[2].sync {}
        #expect(bed.device.pairStatistics[2]?.rxFrames == 0)
        #expect(try bed.setPairs([3, 0]) == C.ok)
        // Enabled: the frame that waited arrives on pair 2's receive queue.
        let waited = try bed.driver.waitForUsed(bed.rx[2])
        #expect(Array(waited.flatMap(\.written).dropFirst(12)) == early)
        for pair in 0..<MultiQueueNetBed.pairs {
            let (sent, received) = try bed.exchange(on: pair, tag: UInt8(0x10 + pair))
            let frame = ethernetFrame(payload: 60, tag: UInt8(0x10 + pair))
            #expect(sent.map { Array($0.dropFirst(12)) } == frame, "pair \(pair) tx")
            #expect(Array(received.dropFirst(12)) == frame, "pair \(pair) rx")
        }
        #expect(bed.backends[2].senders.withLock { $0 } == ["virtio-net/2"])
        #expect(bed.backends[1].senders.withLock { $0 } == ["virtio-net/1"])
        #expect(bed.backends[0].senders.withLock { $0 } == ["virtio-net"])
        let stats = bed.device.pairStatistics
        #expect(stats[2]?.txFrames == 1 && stats[2]?.rxFrames == 2)
        #expect(bed.device.statistics.txFrames == 3)
        // Back to one pair: accepted, and still no reset.
        #expect(try bed.setPairs([1, 0]) == C.ok)
        #expect(bed.driver.status & VirtioTestSpec.Status.deviceNeedsReset == 0)
    }

    @Test("receive filters set on the control queue apply to every pair")
    func filterReachesEveryPair() throws {
        let bed = try MultiQueueNetBed(.mmio)
        #expect(try bed.setPairs([3, 0]) == C.ok)
        // Promiscuous off and no multicast: a frame to another unicast address is dropped on pair 1 too.
        let ctrl = try #require(bed.ctrl)
        try ctrl.submit(readable: [[C.classRx, C.rxPromisc], [0]], writable: [1])
        try bed.driver.kick(ctrl)
        #expect(try bed.driver.waitForUsed(ctrl).first?.written == [C.ok])
        let other: [UInt8] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55]
        try bed.rx[1].submit(writable: [2048])
        try bed.driver.kick(bed.rx[1])
        bed.backends[1].inner.inject(netHeader() + ethernetFrame(to: other, payload: 40))
        bed.backends[1].inner.inject(netHeader() + ethernetFrame(payload: 40, tag: 0x42))   // broadcast passes
        let used = try bed.driver.waitForUsed(bed.rx[1])
        #expect(Array(used.flatMap(\.written).dropFirst(12)) == ethernetFrame(payload: 40, tag: 0x42))
        #expect(bed.device.pairStatistics[1]?.rxDroppedByFilter == 1)
    }

    @Test("the pairs in use are device state: saved, restored, hostile counts refused")
    func pairsAreState() throws {
        let bed = try MultiQueueNetBed(.mmio)
        #expect(try bed.setPairs([3, 0]) == C.ok)
        let saved = bed.device.saveState(id: "net0")
        #expect(saved.value("queue-pairs") == .unsigned(3))
        func receiving() -> [Bool] {
            bed.device.dataPaths.withLock { $0 }.map { path in path.loop.sync { path.receiving } }
        }
        #expect(receiving() == [true, true, true])
        var two = saved
        two.set("queue-pairs", UInt64(2))
        try bed.device.restoreState(two)
        #expect(receiving() == [true, true, false])
        for hostile: UInt64 in [0, 4, .max] {
            var bad = saved
            bad.set("queue-pairs", hostile)
            #expect(throws: DeviceStateError.self) { try bed.device.restoreState(bad) }
        }
        #expect(receiving() == [true, true, false])
        try bed.device.restoreState(saved)
        #expect(receiving() == [true, true, true])
    }

    @Test("tap queues follow the pairs in use: detached while out of use or not set up, attached by VQ_PAIRS_SET")
    func tapQueuesFollowPairs() throws {
        let backends = (0..<3).map { _ in SteeredBackend() }
        let device = try VirtioNetDevice(configuration: VirtioNetConfiguration(queueSize: 16, queuePairs: 3), backends: backends)
        let attachment = try DeviceOnTransport(.mmio, device: device)
        let driver = attachment.driver
        _ = try driver.initialize(features: NetTestbed.linuxFeatures)
        // Pairs 0 and 1 set up, pair 2 not (a driver using two of three pairs).
        for q in 0..<4 { try driver.setupQueue(q) }
        let ctrl = try driver.setupQueue(6)
        driver.driverOK()
        func attachments() -> [[Bool]] {
            for l in device.loops { l.sync {} }
            return backends.map { $0.attachments.withLock { $0 } }
        }
        #expect(attachments() == [[true], [false], [false]])
        try ctrl.submit(readable: [[C.classMQ, C.mqVQPairsSet], [2, 0]], writable: [1])
        try driver.kick(ctrl)
        #expect(try driver.waitForUsed(ctrl).first?.written == [C.ok])
        #expect(attachments() == [[true], [false, true], [false]])
        device.reset()
    }

    @Test("without a control queue (a vhost-user frontend keeps it) every pair set up runs")
    func noControlQueue() throws {
        let bed = try MultiQueueNetBed(.mmio, features: NetTestbed.linuxFeatures & ~(VirtioNetFeature.ctrlVQ | VirtioNetFeature.ctrlRx
            | VirtioNetFeature.ctrlVLAN | VirtioNetFeature.guestAnnounce | VirtioNetFeature.mq | VirtioNetFeature.ctrlMACAddr
            | VirtioNetFeature.ctrlGuestOffloads))
        #expect(bed.ctrl == nil)
        let (sent, received) = try bed.exchange(on: 2, tag: 0x33)
        #expect(sent.map { Array($0.dropFirst(12)) } == ethernetFrame(payload: 60, tag: 0x33))
        #expect(Array(received.dropFirst(12)) == ethernetFrame(payload: 60, tag: 0x33))
        #expect(bed.backends[2].receivers.withLock { $0 } == ["virtio-net/2"])
    }
}
