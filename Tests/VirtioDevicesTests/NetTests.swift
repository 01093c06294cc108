import DeviceModel
import Glibc
import Synchronization
import Testing
@testable import VirtioDevices

/// A packet backend over a SOCK_SEQPACKET socketpair: the test holds the other end and sees
/// exactly the frames (vnet header included) the device sends, and injects frames to receive.
final class SocketPairBackend: PacketBackend, @unchecked Sendable {
    // SAFETY: fds are immutable; `offloads` is behind a Mutex.
    let pollFD: Int32
    let peer: Int32
    let offloads = Mutex<[PacketOffloads]>([])

    init(receiveBuffer: Int32 = 1 << 20) {
        var fds: [Int32] = [0, 0]
        precondition(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds) == 0)
        pollFD = fds[0]
        peer = fds[1]
        var size = receiveBuffer
        setsockopt(peer, SOL_SOCKET, SO_RCVBUF, &size, 4)
    }

    deinit {
        close(pollFD)
        close(peer)
    }

    func send(_ segments: [UnsafeRawBufferPointer]) throws(PacketBackendError) -> Int? {
        var iov = segments.map { iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count) }
        let n = writev(pollFD, &iov, Int32(iov.count))
        if n < 0 { if errno == EAGAIN { return nil }; throw .sendFailed(errno: errno) }
        return n
    }

    func receive(into segments: [UnsafeMutableRawBufferPointer]) throws(PacketBackendError) -> Int? {
        var iov = segments.map { iovec(iov_base: $0.baseAddress, iov_len: $0.count) }
        let n = readv(pollFD, &iov, Int32(iov.count))
        if n < 0 { if errno == EAGAIN { return nil }; throw .receiveFailed(errno: errno) }
        return n
    }

    func setOffloads(_ offloads: PacketOffloads) throws(PacketBackendError) {
        self.offloads.withLock { $0.append(offloads) }
    }

    /// Injects one frame as if it arrived from the network.
    func inject(_ frame: [UInt8]) {
        let n = frame.withUnsafeBytes { Glibc.send(peer, $0.baseAddress, $0.count, 0) }
        precondition(n == frame.count)
    }

    /// The next frame the device sent, waiting up to `timeoutMs`.
    func nextSent(timeoutMs: Int32 = 5000) -> [UInt8]? {
        var p = pollfd(fd: peer, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, timeoutMs) == 1 else { return nil }
        var buf = [UInt8](repeating: 0, count: 70_000)
        let n = buf.withUnsafeMutableBytes { recv(peer, $0.baseAddress, $0.count, 0) }
        return n > 0 ? Array(buf[0..<n]) : nil
    }
}

/// Records what the device signals.
final class RecordingSink: VirtioInterruptSink {
    let used = EventNotifier.testInstance()
    let state = Mutex<(queues: [Int], resets: [VirtioDeviceError])>(([], []))
    func signalUsedBuffers(queue index: Int) {
        state.withLock { $0.queues.append(index) }
        try? used.signal()
    }
    func signalConfigChange() {}
    func deviceNeedsReset(_ error: VirtioDeviceError) {
        state.withLock { $0.resets.append(error) }
        try? used.signal()
    }
}

extension EventNotifier {
    static func testInstance() -> EventNotifier {
        // Tests run where eventfd works; a failure here is an environment error worth a crash.
        do { return try EventNotifier() } catch { preconditionFailure("eventfd: \(error)") }
    }
}

/// A driver-side split queue laid out in guest RAM the way Linux's virtio_ring does.
struct NetDriverQueue {
    let memory: MappedGuestMemory
    let layout: VirtqueueLayout
    var nextDescriptor: UInt16 = 0
    var availIndex: UInt16 = 0
    var usedSeen: UInt16 = 0

    init(memory: MappedGuestMemory, base: UInt64, size: UInt16) {
        self.memory = memory
        let desc = base
        let avail = desc + 16 * UInt64(size)
        let used = (avail + 6 + 2 * UInt64(size) + 3) & ~3
        layout = VirtqueueLayout(size: size, descriptorTable: desc, availRing: avail, usedRing: used)
    }

    /// Publishes a chain of (address, length, deviceWritable) buffers; returns its head.
    @discardableResult
    mutating func post(_ buffers: [(UInt64, UInt32, Bool)]) throws -> UInt16 {
        let head = nextDescriptor
        for (i, b) in buffers.enumerated() {
            let index = (nextDescriptor &+ UInt16(i)) % layout.size
            let d = layout.descriptorTable + 16 * UInt64(index)
            let last = i == buffers.count - 1
            try memory.write(b.0, at: d)
            try memory.write(b.1, at: d + 8)
            try memory.write(UInt16((last ? 0 : 1) | (b.2 ? 2 : 0)), at: d + 12)
            try memory.write((index &+ 1) % layout.size, at: d + 14)
        }
        nextDescriptor = (nextDescriptor &+ UInt16(buffers.count)) % layout.size
        try memory.write(head, at: layout.availRing + 4 + 2 * UInt64(availIndex % layout.size))
        availIndex &+= 1
        try memory.storeRelease(availIndex, at: layout.availRing + 2)
        return head
    }

    /// Used elements published since the last call.
    mutating func takeUsed() throws -> [(id: UInt32, len: UInt32)] {
        let idx = try memory.loadAcquire(UInt16.self, at: layout.usedRing + 2)
        var out: [(UInt32, UInt32)] = []
        while usedSeen != idx {
            let e = layout.usedRing + 4 + 8 * UInt64(usedSeen % layout.size)
            out.append((try memory.read(UInt32.self, at: e), try memory.read(UInt32.self, at: e + 4)))
            usedSeen &+= 1
        }
        return out.map { (id: $0.0, len: $0.1) }
    }
}

struct NetFixture {
    let memory: MappedGuestMemory
    let backend = SocketPairBackend()
    let sink = RecordingSink()
    let device: VirtioNetDevice
    var rx: NetDriverQueue
    var tx: NetDriverQueue
    var ctrl: NetDriverQueue
    let kicks = (EventNotifier.testInstance(), EventNotifier.testInstance(), EventNotifier.testInstance())

    init(features extra: UInt64) throws {
        memory = try MappedGuestMemory.anonymous([(guestBase: 0, length: 16 << 20)])
        device = try VirtioNetDevice(configuration: VirtioNetConfiguration(queueSize: 16), backend: backend)
        rx = NetDriverQueue(memory: memory, base: 0x1000, size: 16)
        tx = NetDriverQueue(memory: memory, base: 0x3000, size: 16)
        ctrl = NetDriverQueue(memory: memory, base: 0x5000, size: 16)
        let features = VirtioFeature.version1 | VirtioNetFeature.ctrlVQ | VirtioNetFeature.ctrlRx | extra
        func binding(_ i: Int, _ q: NetDriverQueue, _ kick: EventNotifier) throws -> VirtioQueueBinding {
            VirtioQueueBinding(index: i, queue: try SplitVirtqueue(memory: memory, layout: q.layout, eventIndex: false,
                                                                    indirectDescriptors: false), kick: kick)
        }
        try device.activate(VirtioActivation(
            features: features, memory: memory,
            queues: [try binding(0, rx, kicks.0), try binding(1, tx, kicks.1), try binding(2, ctrl, kicks.2)],
            interrupts: sink))
    }

    /// Waits until `queue` returns at least `count` used entries.
    mutating func waitUsed(_ queue: WritableKeyPath<NetFixture, NetDriverQueue>, count: Int) throws -> [(id: UInt32, len: UInt32)] {
        var got: [(id: UInt32, len: UInt32)] = []
        for _ in 0..<100 where got.count < count {
            got += try self[keyPath: queue].takeUsed()
            if got.count < count { _ = sink.used.wait(timeoutMs: 50) }
        }
        return got
    }
}

private func frame(payload: Int, destination: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], tag: UInt8 = 0xAB) -> [UInt8] {
    var f = [UInt8](repeating: 0, count: VirtioNetHeader.size)
    f[0] = VirtioNetHeader.flagNeedsCsum
    f += destination + [0x52, 0x54, 0, 0, 0, 9] + [0x08, 0x00]
    f += [UInt8](repeating: tag, count: payload)
    return f
}

@Suite("virtio-net") struct NetTests {
    @Test("tx: the guest's header and frame reach the backend untouched, gathered from several buffers")
    func transmit() throws {
        var f = try NetFixture(features: VirtioNetFeature.csum)
        let packet = frame(payload: 100)
        try f.memory.writeBytes(packet[0..<20], at: 0x10000)
        try f.memory.writeBytes(packet[20...], at: 0x20000)
        try f.tx.post([(0x10000, 20, false), (0x20000, UInt32(packet.count - 20), false)])
        try f.kicks.1.signal()
        #expect(f.backend.nextSent() == packet)
        let used = try f.waitUsed(\.tx, count: 1)
        #expect(used.count == 1 && used[0].len == 0)
        #expect(f.device.statistics.txFrames == 1)
    }

    @Test("rx without MRG_RXBUF: header passed through, num_buffers = 1")
    func receiveSingle() throws {
        var f = try NetFixture(features: 0)
        try f.rx.post([(0x40000, 2048, true)])
        try f.kicks.0.signal()
        let packet = frame(payload: 500)
        f.backend.inject(packet)
        let used = try f.waitUsed(\.rx, count: 1)
        #expect(used.count == 1 && Int(used[0].len) == packet.count)
        let got = try f.memory.readBytes(at: 0x40000, count: packet.count)
        #expect(got[0] == VirtioNetHeader.flagNeedsCsum)
        #expect(got[10] == 1 && got[11] == 0)
        #expect(got[12...] == packet[12...])
    }

    @Test("rx with MRG_RXBUF: a frame larger than one buffer spans several, num_buffers filled")
    func receiveMergeable() throws {
        var f = try NetFixture(features: VirtioNetFeature.mergeableRxBuffers)
        for i in 0..<4 { try f.rx.post([(0x40000 + UInt64(i) * 0x1000, 1000, true)]) }
        try f.kicks.0.signal()
        let packet = frame(payload: 2500)   // 2526 bytes → 3 buffers
        f.backend.inject(packet)
        let used = try f.waitUsed(\.rx, count: 3)
        #expect(used.map(\.len) == [1000, 1000, UInt32(packet.count - 2000)])
        var got: [UInt8] = []
        for (i, u) in used.enumerated() { got += try f.memory.readBytes(at: 0x40000 + UInt64(i) * 0x1000, count: Int(u.len)) }
        #expect(got[10] == 3 && got[11] == 0)
        #expect(got[12...] == packet[12...])
    }

    @Test("rx back-pressure: no buffers pauses reading; posting buffers resumes delivery")
    func backPressure() throws {
        var f = try NetFixture(features: 0)
        f.backend.inject(frame(payload: 64, tag: 1))
        f.backend.inject(frame(payload: 64, tag: 2))
        _ = f.sink.used.wait(timeoutMs: 200)
        #expect(try f.rx.takeUsed().isEmpty)
        #expect(f.device.statistics.rxPauses >= 1)
        try f.rx.post([(0x40000, 2048, true)])
        try f.rx.post([(0x41000, 2048, true)])
        try f.kicks.0.signal()
        let used = try f.waitUsed(\.rx, count: 2)
        #expect(used.count == 2)
        #expect(try f.memory.readBytes(at: 0x40000 + 26, count: 1) == [1])
        #expect(try f.memory.readBytes(at: 0x41000 + 26, count: 1) == [2])
    }

    @Test("negotiated guest offloads become TUNSETOFFLOAD bits")
    func offloadTranslation() throws {
        typealias F = VirtioNetFeature
        #expect(F.receiveOffloads(for: 0) == [])
        #expect(F.receiveOffloads(for: F.guestTSO4) == [], "TSO without GUEST_CSUM is invalid")
        #expect(F.receiveOffloads(for: F.guestCsum) == [.checksum])
        #expect(F.receiveOffloads(for: F.guestCsum | F.guestTSO4 | F.guestTSO6 | F.guestECN) == [.checksum, .tso4, .tso6, .tsoECN])
        let f = try NetFixture(features: F.guestCsum | F.guestTSO4)
        #expect(f.backend.offloads.withLock { $0 }.last == [.checksum, .tso4])
    }

    @Test("control queue: promiscuous off filters unicast frames for other MACs")
    func controlFilter() throws {
        var f = try NetFixture(features: 0)
        try f.memory.writeBytes([0, 0, 0], at: 0x60000)   // class RX, PROMISC, off
        try f.ctrl.post([(0x60000, 3, false), (0x60010, 1, true)])
        try f.memory.writeBytes([0xEE], at: 0x60010)
        try f.kicks.2.signal()
        _ = try f.waitUsed(\.ctrl, count: 1)
        #expect(try f.memory.readBytes(at: 0x60010, count: 1) == [0])   // VIRTIO_NET_OK
        try f.rx.post([(0x40000, 2048, true)])
        try f.kicks.0.signal()
        f.backend.inject(frame(payload: 64, destination: [0x02, 1, 2, 3, 4, 5], tag: 7))    // not ours: dropped
        f.backend.inject(frame(payload: 64, destination: f.device.configuration.mac.bytes, tag: 8))
        let used = try f.waitUsed(\.rx, count: 1)
        #expect(used.count == 1)
        #expect(try f.memory.readBytes(at: 0x40000 + 26, count: 1) == [8])
        #expect(f.device.statistics.rxDroppedByFilter == 1)
    }

    @Test("malformed tx chain (device-writable buffer) puts the device in NEEDS_RESET")
    func malformedTransmit() throws {
        var f = try NetFixture(features: 0)
        try f.tx.post([(0x10000, 64, true)])
        try f.kicks.1.signal()
        _ = f.sink.used.wait(timeoutMs: 2000)
        #expect(f.sink.state.withLock { $0.resets.count } == 1)
    }

    @Test("malformed rx chain (descriptor index out of range) puts the device in NEEDS_RESET")
    func malformedReceiveChain() throws {
        let f = try NetFixture(features: 0)
        // A head index ≥ queue size in the avail ring.
        try f.memory.write(UInt16(99), at: f.rx.layout.availRing + 4)
        try f.memory.storeRelease(UInt16(1), at: f.rx.layout.availRing + 2)
        try f.kicks.0.signal()
        f.backend.inject(frame(payload: 64))
        _ = f.sink.used.wait(timeoutMs: 2000)
        let resets = f.sink.state.withLock { $0.resets }
        #expect(resets == [.queue(index: 0, .descriptorIndexOutOfRange(index: 99, tableSize: 16))])
    }
}
