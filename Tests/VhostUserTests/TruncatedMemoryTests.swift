import DeviceModel
import Logging
import Testing
@testable import VhostUser
#if canImport(Glibc)
import Glibc
#endif

/// A frontend that truncates the file behind guest RAM after `SET_MEM_TABLE`: the next ring
/// access faults (SIGBUS). The backend survives, stops the device and closes the connection.
@Suite("vhost-user truncated guest memory", .serialized)
struct TruncatedMemoryTests {
    @Test func truncatingGuestRAMEndsTheConnectionNotTheProcess() throws {
        let device = try SlowServiceDevice(delay: .zero)
        var logger = Logger(label: "test.vhost-user")
        logger.logLevel = .critical
        let ends = SessionEndLog()
        let backend = try VhostUserBackend(device: device, logger: logger) { ends.record($0) }
        defer { backend.shutdown() }
        let f = FakeFrontend()
        backend.serve(connectedSocket: f.backendFD)
        f.negotiate(protocolFeatures: VhostUserProtocolFeatures.supported.subtracting(.config))
        f.setUpRing()
        #expect(f.sync())
        // The chain is written while the memory is still there; then the file loses it.
        f.submit([1, 2, 3], outputLength: 3, kickNow: false)
        #expect(ftruncate(f.memoryFD, 0) == 0)
        try f.kick.signal()
        #expect(f.waitForClose(), "the connection must be closed")
        let end = try #require(ends.next())
        let error = try #require(end)
        #expect(error == .guestMemoryTruncated, "\(error)")
        // The backend serves the next frontend.
        let g = FakeFrontend()
        backend.serve(connectedSocket: g.backendFD)
        #expect(g.sync())
    }
}
