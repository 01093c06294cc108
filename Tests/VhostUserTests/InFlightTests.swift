import DeviceModel
import Logging
import Synchronization
import Testing
@testable import VhostUser
#if canImport(Glibc)
import Glibc
#endif

/// In-flight requests survive the frontend stopping a ring or replacing the memory table:
/// the protocol requires `GET_VRING_BASE` to answer only once the back-end stopped the ring
/// and finished what it had taken, so every index below the returned base has a used entry.
@Suite("vhost-user in-flight requests", .serialized)
struct InFlightTests {
    private func backend(_ device: SlowServiceDevice) throws -> (VhostUserBackend, SessionEndLog) {
        var logger = Logger(label: "test.vhost-user")
        logger.logLevel = .critical
        let ends = SessionEndLog()
        return (try VhostUserBackend(device: device, logger: logger) { ends.record($0) }, ends)
    }

    @Test func getVringBaseWaitsForInFlightRequests() throws {
        let device = try SlowServiceDevice(delay: .milliseconds(60))
        let (backend, _) = try backend(device)
        defer { backend.shutdown() }
        let f = FakeFrontend()
        backend.serve(connectedSocket: f.backendFD)
        f.negotiate(protocolFeatures: VhostUserProtocolFeatures.supported.subtracting(.config))
        f.setUpRing()
        #expect(f.sync())
        for i in 0..<4 { f.submit([UInt8(i), 1, 2], outputLength: 3) }
        // Let the device pop all four (each then waits ~60 ms on the single worker).
        usleep(30_000)
        let reply = try #require(f.call(.getVringBase, payload: FakeFrontend.state(0, 0)))
        let base = UInt16(truncatingIfNeeded: FakeFrontend.u64(reply) >> 32)
        #expect(base == 4)
        #expect(f.usedIndex == base, "every request below the returned base must have a used entry")
        for slot in 0..<f.usedIndex { #expect(f.usedElement(slot).length == 3) }
    }

    @Test func memoryTableResentMidIOLosesNothing() throws {
        let device = try SlowServiceDevice(delay: .milliseconds(60))
        let (backend, _) = try backend(device)
        defer { backend.shutdown() }
        let f = FakeFrontend()
        backend.serve(connectedSocket: f.backendFD)
        f.negotiate(protocolFeatures: VhostUserProtocolFeatures.supported.subtracting(.config))
        f.setUpRing()
        #expect(f.sync())
        for i in 0..<4 { f.submit([UInt8(i), 1, 2], outputLength: 3) }
        usleep(30_000)
        f.send(.setMemTable, payload: FakeFrontend.memTable([(0, UInt64(FakeFrontend.ramSize), FakeFrontend.userBase, 0)]),
               fds: [f.memoryFD])
        #expect(f.sync())
        #expect(f.waitForUsed(4), "used index \(f.usedIndex): requests in flight across SET_MEM_TABLE were lost")
    }
}
