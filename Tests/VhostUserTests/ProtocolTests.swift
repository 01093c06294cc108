import DeviceModel
import Testing
@testable import VhostUser
#if canImport(Glibc)
import Glibc
#endif

@Suite("vhost-user protocol with a fake frontend")
struct ProtocolTests {
    @Test("features, protocol features, queue count, config space, acks")
    func negotiation() throws {
        let h = try BackendHarness()
        let f = h.connect()
        let features = try #require(f.getU64(.getFeatures))
        #expect(features == h.device.offeredFeatures | VhostUserFeature.protocolFeatures)
        let proto = try #require(f.getU64(.getProtocolFeatures))
        #expect(VhostUserProtocolFeatures(rawValue: proto).isSuperset(of: [.multiQueue, .config, .replyAck, .resetDevice]))

        f.send(.setProtocolFeatures, payload: FakeFrontend.le64(proto))
        // NEED_REPLY on a request without its own reply → a u64 ack of 0.
        f.send(.setOwner, flags: VhostUserHeader.version | VhostUserHeader.needReplyFlag)
        let ack = try #require(f.receive())
        #expect(ack.header.request == VhostUserRequest.setOwner.rawValue)
        #expect(ack.header.flags == VhostUserHeader.version | VhostUserHeader.replyFlag)
        #expect(ack.payload == FakeFrontend.le64(0))

        #expect(f.getU64(.getQueueNum) == 1)

        // GET_CONFIG: offset 0, 8 bytes (UML asks for offset + len from 0).
        let cfg = try #require(f.call(.getConfig, payload: FakeFrontend.state(0, 8) + FakeFrontend.le(0, 4) + [UInt8](repeating: 0, count: 8)))
        #expect(cfg == FakeFrontend.state(0, 8) + FakeFrontend.le(0, 4) + [0x53, 0x44, 0x4d, 0x21, 0, 0, 0, 0])
        // SET_CONFIG of the writable field, then read beyond the device's config (zero padded).
        f.send(.setConfig, payload: FakeFrontend.state(4, 2) + FakeFrontend.le(0, 4) + [0xaa, 0xbb])
        let cfg2 = try #require(f.call(.getConfig, payload: FakeFrontend.state(2, 8) + FakeFrontend.le(0, 4) + [UInt8](repeating: 0, count: 8)))
        #expect(Array(cfg2.suffix(8)) == [0x4d, 0x21, 0xaa, 0xbb, 0, 0, 0, 0])
        #expect(h.backend.isServing)
    }

    @Test("data path: a chain is echoed, the call fd fires, GET_VRING_BASE stops and reports, restart resumes")
    func dataPath() throws {
        let h = try BackendHarness()
        let f = h.connect()
        f.negotiate()
        f.setUpRing()
        #expect(f.sync())
        #expect(h.backend.isDeviceActive)

        let out = f.submit(Array("hello, vhost-user".utf8), outputLength: 64)
        #expect(f.waitForUsed(1))
        #expect(f.usedElement(0).id == 0)
        #expect(f.usedElement(0).length == 17)
        #expect(f.read(at: out, count: 17) == Array("hello, vhost-user".utf8))

        // Stop the ring: the device is reset and the next avail index comes back.
        let base = try #require(f.call(.getVringBase, payload: FakeFrontend.state(0, 0)))
        #expect(base == FakeFrontend.state(0, 1))
        #expect(!h.backend.isDeviceActive)
        #expect(h.device.stats.withLock { $0.resets } >= 1)

        // A request made while stopped is not processed...
        f.submit(Array("second".utf8), outputLength: 16, kickNow: false)
        #expect(f.sync())
        #expect(f.usedIndex == 1)
        // ...until the frontend restarts the ring from the reported base.
        f.send(.setVringBase, payload: FakeFrontend.state(0, 1))
        f.send(.setVringKick, payload: FakeFrontend.le64(0), fds: [f.kick.fd])
        #expect(f.waitForUsed(2))
        #expect(h.device.stats.withLock { $0.activations } == 2)
    }

    @Test("rings start disabled with protocol features; SET_VRING_ENABLE starts the device")
    func ringEnable() throws {
        let h = try BackendHarness()
        let f = h.connect()
        f.negotiate()
        f.setUpRing(enable: false)
        f.submit([1, 2, 3], outputLength: 8)
        #expect(f.sync())
        #expect(!h.backend.isDeviceActive)
        #expect(f.usedIndex == 0)
        f.send(.setVringEnable, payload: FakeFrontend.state(0, 1))
        #expect(f.waitForUsed(1))
        // Disabling stops it again.
        f.send(.setVringEnable, payload: FakeFrontend.state(0, 0))
        #expect(f.sync())
        #expect(!h.backend.isDeviceActive)
    }

    @Test("without VHOST_USER_F_PROTOCOL_FEATURES rings are enabled by SET_FEATURES")
    func legacyEnable() throws {
        let h = try BackendHarness()
        let f = h.connect()
        f.send(.setOwner)
        f.send(.setFeatures, payload: FakeFrontend.le64(VirtioFeatureBits.version1))
        f.send(.setMemTable, payload: FakeFrontend.memTable([(0, UInt64(FakeFrontend.ramSize), FakeFrontend.userBase, 0)]),
               fds: [f.memoryFD])
        f.setUpRing(enable: false)
        f.submit([9], outputLength: 4)
        #expect(f.waitForUsed(1))
        #expect(h.device.stats.withLock { $0.lastFeatures } == VirtioFeatureBits.version1)
    }

    @Test("a device error signals the err fd and stops the device; the connection stays")
    func deviceError() throws {
        let h = try BackendHarness()
        let f = h.connect()
        f.negotiate()
        f.setUpRing()
        // A chain whose `next` points outside the 8-entry table.
        f.submit([1], outputLength: 4, nextOverride: 200)
        #expect(f.err.wait(timeoutMs: 10_000) > 0)
        #expect(f.sync())
        #expect(!h.backend.isDeviceActive)
        #expect(h.backend.isServing)
        // RESET_DEVICE clears the failure; the rings need setting up again.
        f.send(.resetDevice)
        #expect(f.sync())
    }

    @Test("frontend disconnect resets the device and the backend serves the next frontend")
    func reconnect() throws {
        let h = try BackendHarness()
        do {
            let f = h.connect()
            f.negotiate()
            f.setUpRing()
            f.submit([1, 2], outputLength: 4)
            #expect(f.waitForUsed(1))
        }  // the frontend's socket closes here
        let end = try #require(h.nextEnd())
        #expect(end == nil)
        #expect(!h.backend.isServing)
        #expect(h.device.stats.withLock { $0.resets } >= 1)

        let g = h.connect()
        g.negotiate()
        g.setUpRing()
        g.submit([3, 4, 5], outputLength: 4)
        #expect(g.waitForUsed(1))
        #expect(g.read(at: FakeFrontend.dataGPA + 0x800, count: 3) == [3, 4, 5])
    }

    @Test("a second frontend is refused while one is connected")
    func secondFrontend() throws {
        let h = try BackendHarness()
        let f = h.connect()
        #expect(f.sync())
        let g = h.connect()
        #expect(g.waitForClose())
        #expect(f.sync())
    }

    @Test("a device runs only once the rings it needs are ready; more rings restart it with all of them")
    func multipleRings() throws {
        let h = try BackendHarness(queues: 2)
        let f = h.connect()
        f.negotiate()
        #expect(f.getU64(.getQueueNum) == 2)
        // Ring 1 alone: the echo device needs ring 0, so it waits.
        let kick1 = try EventNotifier()
        f.send(.setVringNum, payload: FakeFrontend.state(1, 8))
        f.send(.setVringAddr, payload: FakeFrontend.vringAddr(1, desc: FakeFrontend.userBase + 0x4000,
                                                               used: FakeFrontend.userBase + 0x6000,
                                                               avail: FakeFrontend.userBase + 0x5000))
        f.send(.setVringKick, payload: FakeFrontend.le64(1), fds: [kick1.fd])
        f.send(.setVringEnable, payload: FakeFrontend.state(1, 1))
        #expect(f.sync())
        #expect(!h.backend.isDeviceActive)
        #expect(h.device.stats.withLock { $0.activations } == 0)
        f.setUpRing()
        f.submit([7, 7], outputLength: 2)
        #expect(f.waitForUsed(1))
        #expect(h.backend.isDeviceActive)
    }

    @Test("a new memory table while running: the device stops, and resumes on the new mapping where it was")
    func memoryTableReplaced() throws {
        let h = try BackendHarness()
        let f = h.connect()
        f.negotiate()
        f.setUpRing()
        f.submit([1], outputLength: 1)
        #expect(f.waitForUsed(1))
        let activations = h.device.stats.withLock { $0.activations }
        // The same RAM, announced at a different frontend address.
        let newBase: UInt64 = 0x5500_0000_0000
        f.send(.setMemTable, payload: FakeFrontend.memTable([(0, UInt64(FakeFrontend.ramSize), newBase, 0)]), fds: [f.memoryFD])
        f.send(.setVringAddr, payload: FakeFrontend.vringAddr(0, desc: newBase + FakeFrontend.descGPA, used: newBase + FakeFrontend.usedGPA,
                                                               avail: newBase + FakeFrontend.availGPA))
        #expect(f.sync())
        f.submit([2], outputLength: 1)
        #expect(f.waitForUsed(2))
        #expect(h.device.stats.withLock { $0.activations } == activations + 1)
        #expect(f.usedElement(1).id == 2)
    }
}
