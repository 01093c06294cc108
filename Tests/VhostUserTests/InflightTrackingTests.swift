import DeviceModel
import Foundation
import Logging
import Testing
@testable import VhostUser
#if canImport(Glibc)
import Glibc
#endif

/// `VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD`: the backend records every head it takes in a buffer
/// the frontend keeps, and a backend started on that buffer resubmits what an earlier one took
/// and never returned — in the order it was taken, before anything new, and without redoing a
/// request whose used entry was already published.
@Suite("vhost-user inflight tracking", .serialized)
struct InflightTrackingTests {
    @Test func offeredForBlockDevicesOnlyByDefault() throws {
        let h = try BackendHarness()
        let f = h.connect()
        let proto = VhostUserProtocolFeatures(rawValue: try #require(f.getU64(.getProtocolFeatures)))
        #expect(!proto.contains(.inflightSharedMemory), "an entropy device must not have its requests redone")
        let t = try BackendHarness(tracksInflight: true)
        let g = t.connect()
        let offered = VhostUserProtocolFeatures(rawValue: try #require(g.getU64(.getProtocolFeatures)))
        #expect(offered.contains(.inflightSharedMemory))
    }

    @Test func bufferIsSealedAndRecordsEveryRequest() throws {
        let h = try BackendHarness(tracksInflight: true)
        let f = h.connect()
        f.negotiate(protocolFeatures: VhostUserProtocolFeatures.supported.union(.inflightSharedMemory))
        let (payload, fd) = try #require(f.getInflightFD(queueSize: 8))
        // libvhost-user's layout: ALIGN_UP(16 * 8 + 2, 64) = 192 bytes for one queue of 8.
        #expect(payload == FakeFrontend.inflight(size: 192, offset: 0, queues: 1, queueSize: 8))
        #expect(ftruncate(fd, 0) != 0 && errno == EPERM, "the buffer can be shrunk under the backend")
        f.send(.setInflightFD, payload: payload, fds: [fd])
        let view = try #require(InflightView(fd: fd, size: 192))
        f.setUpRing()
        for i in 0..<3 { f.submit([UInt8(i), 9], outputLength: 2) }
        #expect(f.waitForUsed(3))
        #expect(view.version == 1)
        #expect(view.descriptorCount == 8)
        #expect(view.usedIndex == 3)
        #expect(view.inflightHeads(below: 8).isEmpty)
        #expect([view.counter(0), view.counter(2), view.counter(4)] == [0, 1, 2], "heads are counted in the order taken")
        #expect(view.lastBatchHead == 4)
    }

    /// The buffer as a backend that died mid-I/O leaves it: four chains taken (heads 0, 2, 4,
    /// 6), head 0 returned, head 4 returned (its used entry and index published) but not yet
    /// cleared, heads 6 and 2 (taken in that order) still in flight. A new backend must redo
    /// 6 then 2, leave 4 alone, and then serve the next new chain.
    @Test func restartedBackendResubmitsWhatTheOldOneLeftInFlight() throws {
        let f = FakeFrontend()
        let heads: [UInt16] = [0, 2, 4, 6]
        var outputs: [UInt16: UInt64] = [:]
        for (i, head) in heads.enumerated() {
            outputs[head] = f.submit([UInt8(10 + i), UInt8(20 + i)], outputLength: 2, kickNow: false)
        }
        for out in outputs.values { f.write([0xee, 0xee], at: out) }
        // The used ring: head 0, then head 4.
        for (slot, head) in [(UInt64(0), UInt32(0)), (1, 4)] {
            f.write(FakeFrontend.le(UInt64(head), 4) + FakeFrontend.le(2, 4), at: FakeFrontend.usedGPA + 4 + 8 * slot)
        }
        f.write(FakeFrontend.le(2, 2), at: FakeFrontend.usedGPA + 2)

        let h = try BackendHarness(tracksInflight: true)
        let backend = h.backend
        backend.serve(connectedSocket: f.backendFD)
        f.negotiate(protocolFeatures: VhostUserProtocolFeatures.supported.union(.inflightSharedMemory))
        let (payload, fd) = try #require(f.getInflightFD(queueSize: 8))
        let view = try #require(InflightView(fd: dup(fd), size: 192))
        view.version = 1
        view.markTaken(0, counter: 3)
        view.base.storeBytes(of: UInt8(0), toByteOffset: 16, as: UInt8.self)   // head 0 returned
        view.markTaken(6, counter: 5)
        view.markTaken(2, counter: 7)
        view.markTaken(4, counter: 9)
        view.lastBatchHead = 4
        view.usedIndex = 1                                                       // head 4's batch not cleared
        f.send(.setInflightFD, payload: payload, fds: [fd])
        close(fd)
        // As QEMU restarts a ring whose backend died: at the used index.
        f.setUpRing(base: 2)
        let fresh = f.submit([99, 98], outputLength: 2)
        #expect(f.waitForUsed(5), "used index \(f.usedIndex)")
        #expect((2..<5).map { f.usedElement($0).id } == [6, 2, UInt32((fresh - FakeFrontend.dataGPA - 0x800) / 0x1000)])
        #expect(f.read(at: outputs[6]!, count: 2) == [13, 23])
        #expect(f.read(at: outputs[2]!, count: 2) == [11, 21])
        #expect(f.read(at: outputs[4]!, count: 2) == [0xee, 0xee], "a request already returned was redone")
        #expect(f.read(at: fresh, count: 2) == [99, 98])
        #expect(view.inflightHeads(below: 8).isEmpty)
        #expect(view.usedIndex == 5)
        #expect(h.device.stats.withLock { $0.processed } == 3)
    }

    /// A frontend that drops the connection while requests are in flight on a stuck disk, and
    /// reconnects: what the old session abandoned (the stop waits two seconds, then gives up on
    /// requests still running) is resubmitted, and every request completes exactly once.
    @Test func reconnectMidIOLosesNoRequest() throws {
        let device = try SlowServiceDevice(delay: .milliseconds(450))
        var logger = Logger(label: "test.vhost-user")
        logger.logLevel = .critical
        let backend = try VhostUserBackend(device: device, logger: logger, tracksInflightRequests: true)
        defer { backend.shutdown() }
        let path = "/tmp/sdm-inflight-\(getpid()).sock"
        try backend.listen(on: path)
        let f = try #require(FakeFrontend(connectingTo: path))
        f.ringSize = 16
        let proto = VhostUserProtocolFeatures.supported.subtracting(.config).union(.inflightSharedMemory)
        f.negotiate(protocolFeatures: proto)
        let (payload, fd) = try #require(f.getInflightFD(queueSize: 16))
        defer { close(fd) }
        f.send(.setInflightFD, payload: payload, fds: [fd])
        f.setUpRing()
        #expect(f.sync())
        let requests = 6
        let outputs = (0..<requests).map { f.submit([UInt8($0), 1, 2], outputLength: 3) }
        usleep(100_000)
        // Gone mid-I/O: the old session stops its device, which finishes what it can in two
        // seconds and abandons the rest (a single worker needs 2.7 s for all six).
        try #require(f.reconnect(to: path) != nil)
        #expect(f.sync())
        let usedAtReconnect = f.usedIndex
        #expect(usedAtReconnect < UInt16(requests), "the stop was expected to abandon some requests")
        f.negotiate(protocolFeatures: proto)
        f.send(.setInflightFD, payload: payload, fds: [fd])
        f.setUpRing(base: usedAtReconnect)
        #expect(f.waitForUsed(UInt16(requests)), "used index \(f.usedIndex): requests lost across the reconnect")
        let ids = (0..<UInt16(requests)).map { f.usedElement($0).id }
        #expect(Set(ids) == Set((0..<requests).map { UInt32(2 * $0) }) && ids.count == requests, "\(ids)")
        for (i, out) in outputs.enumerated() { #expect(f.read(at: out, count: 3) == [2, 1, UInt8(i)]) }
    }

    @Test(arguments: [
        (UInt16(0), UInt16(8)), (2, 8), (1, 12), (1, 0), (1, 65535),
    ])
    func badShapesAreRefused(queues: UInt16, queueSize: UInt16) throws {
        let h = try BackendHarness(tracksInflight: true)
        let f = h.connect()
        f.negotiate(protocolFeatures: VhostUserProtocolFeatures.supported.union(.inflightSharedMemory))
        f.send(.getInflightFD, payload: FakeFrontend.inflight(size: 0, offset: 0, queues: queues, queueSize: queueSize))
        #expect(f.waitForClose())
        let end = try #require(h.nextEnd())
        #expect(end == .invalidInflightShape(request: "GET_INFLIGHT_FD", queues: queues, queueSize: queueSize, deviceQueues: 1))
    }

    @Test func bufferShorterThanItsLayoutIsRefused() throws {
        let h = try BackendHarness(tracksInflight: true)
        let f = h.connect()
        f.negotiate(protocolFeatures: VhostUserProtocolFeatures.supported.union(.inflightSharedMemory))
        // A 64-byte file announced as a 192-byte buffer: mapping it would fault past its end.
        var template = Array("/tmp/swiftdm-inflight-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        defer { close(fd) }
        #expect(ftruncate(fd, 64) == 0)
        f.send(.setInflightFD, payload: FakeFrontend.inflight(size: 192, offset: 0, queues: 1, queueSize: 8), fds: [fd])
        #expect(f.waitForClose())
        let end = try #require(h.nextEnd())
        #expect(end == .inflightBufferTooSmall(size: 192, offset: 0, needed: 192, fileSize: 64))
    }

    /// QEMU sizes the buffer by its `queue-size`, but a virtio-mmio guest may pick a larger
    /// ring: that ring runs untracked rather than being refused (or overrunning the buffer).
    @Test func ringLargerThanTheBufferRunsUntracked() throws {
        let h = try BackendHarness(tracksInflight: true)
        let f = h.connect()
        f.negotiate(protocolFeatures: VhostUserProtocolFeatures.supported.union(.inflightSharedMemory))
        let (payload, fd) = try #require(f.getInflightFD(queueSize: 4))
        f.send(.setInflightFD, payload: payload, fds: [fd])
        let view = try #require(InflightView(fd: fd, size: Int(FakeFrontend.u64(payload))))
        f.setUpRing()
        f.submit([1, 2], outputLength: 2)
        #expect(f.waitForUsed(1))
        #expect(h.backend.isServing)
        #expect(view.version == 0, "a ring of 8 recorded into a buffer for 4")
    }
}
