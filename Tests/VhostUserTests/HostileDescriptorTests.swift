import DeviceModel
import Testing
@testable import VhostUser
#if canImport(Glibc)
import Glibc
#endif

/// Descriptors a hostile frontend hands over: every kick, call and err descriptor must be an
/// eventfd (a pipe can block the backend, `/dev/null` or a directory is always readable and
/// spins a queue thread), every memory descriptor a regular file or memfd. Anything else ends
/// the connection with an error naming the request and what arrived.
@Suite("vhost-user hostile descriptors")
struct HostileDescriptorTests {
    private func expectRefused(_ request: VhostUserRequest, fd: Int32, found: String,
                               sourceLocation: SourceLocation = #_sourceLocation) throws {
        let h = try BackendHarness()
        let f = h.connect()
        f.negotiate()
        #expect(f.sync(), sourceLocation: sourceLocation)
        f.send(request, payload: FakeFrontend.le64(0), fds: [fd])
        #expect(f.waitForClose(), "connection must be closed", sourceLocation: sourceLocation)
        let end = try #require(h.nextEnd(), sourceLocation: sourceLocation)
        let error = try #require(end, "the connection must end with an error", sourceLocation: sourceLocation)
        guard case .wrongDescriptorKind(let r, let expected, let got) = error else {
            Issue.record("unexpected error: \(error)", sourceLocation: sourceLocation)
            return
        }
        #expect(r == request.name, sourceLocation: sourceLocation)
        #expect(expected == "eventfd or socket", sourceLocation: sourceLocation)
        #expect(got.contains(found), "found: \(got)", sourceLocation: sourceLocation)
        // The backend still serves the next frontend.
        #expect(h.connect().sync(), sourceLocation: sourceLocation)
    }

    private func pipePair() -> (read: Int32, write: Int32) {
        var p: [Int32] = [-1, -1]
        precondition(pipe(&p) == 0)
        return (p[0], p[1])
    }

    /// A full blocking pipe as call fd used to block the connection thread for ever.
    @Test func pipeAsCallIsRefused() throws {
        let p = pipePair()
        defer { close(p.read); close(p.write) }
        try expectRefused(.setVringCall, fd: p.write, found: "pipe")
    }

    @Test func pipeAsErrIsRefused() throws {
        let p = pipePair()
        defer { close(p.read); close(p.write) }
        try expectRefused(.setVringErr, fd: p.write, found: "pipe")
    }

    /// An always-readable kick used to spin the queue thread at 100% CPU.
    @Test func devNullAsKickIsRefused() throws {
        let fd = open("/dev/null", O_RDONLY)
        defer { close(fd) }
        try expectRefused(.setVringKick, fd: fd, found: "/dev/null")
    }

    @Test func directoryAsKickIsRefused() throws {
        let fd = open("/tmp", O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        try expectRefused(.setVringKick, fd: fd, found: "/tmp")
    }

    @Test func regularFileAsKickIsRefused() throws {
        let f = FakeFrontend()
        try expectRefused(.setVringKick, fd: f.memoryFD, found: "swiftdm-vu-ram")
    }

    /// A pipe as guest memory: refused before anything is mapped.
    @Test func pipeAsMemoryIsRefused() throws {
        let p = pipePair()
        defer { close(p.read); close(p.write) }
        let h = try BackendHarness()
        let f = h.connect()
        f.send(.setMemTable, payload: FakeFrontend.memTable([(0, 0x1000, 0x100000, 0)]), fds: [p.read])
        #expect(f.waitForClose())
        let end = try #require(h.nextEnd())
        let error = try #require(end)
        guard case .wrongDescriptorKind("SET_MEM_TABLE", "regular file or memfd", let got) = error else {
            Issue.record("unexpected error: \(error)")
            return
        }
        #expect(got.contains("pipe"))
    }

    /// A call eventfd whose counter is saturated (0xffff...fe) counts as already signalled:
    /// the backend neither blocks nor fails; the ring keeps being served.
    @Test func saturatedCallEventfdDoesNotBlock() throws {
        let h = try BackendHarness()
        let f = h.connect()
        f.negotiate()
        // The frontend's call eventfd, made blocking and filled to the brim before it is passed.
        let flags = fcntl(f.call.fd, F_GETFL)
        _ = fcntl(f.call.fd, F_SETFL, flags & ~O_NONBLOCK)
        var max: UInt64 = 0xffff_ffff_ffff_fffe
        #expect(write(f.call.fd, &max, 8) == 8)
        f.setUpRing()
        #expect(f.sync())
        f.submit([1, 2, 3], outputLength: 3)
        for _ in 0..<6000 where f.usedIndex != 1 { usleep(10_000) }  // up to 60 s under load
        #expect(f.usedIndex == 1)
        #expect(f.sync(), "the connection thread must not block on the full counter")
    }
}

/// The open file behind a call eventfd is shared with the frontend, which can clear
/// `O_NONBLOCK` again after handing it over and then saturate the counter: signalling must
/// still never block the backend.
@Suite("vhost-user call eventfd made blocking later")
struct LaterBlockingCallTests {
    @Test func callEventfdMadeBlockingAfterSetUpDoesNotBlock() throws {
        let h = try BackendHarness()
        let f = h.connect()
        f.negotiate()
        f.setUpRing()
        #expect(f.sync())
        // Fill the counter to the brim while the descriptor is still non-blocking: the backend
        // may signal it at any moment (on installing it, and when the device activates, which
        // happens after the sync reply), and a blocking write of the maximum onto a non-zero
        // counter would hang this test for ever.
        var max: UInt64 = 0xffff_ffff_ffff_fffe
        var filled = false
        for _ in 0..<1000 where !filled {
            f.call.drain()
            filled = write(f.call.fd, &max, 8) == 8
        }
        #expect(filled)
        let flags = fcntl(f.call.fd, F_GETFL)
        _ = fcntl(f.call.fd, F_SETFL, flags & ~O_NONBLOCK)
        f.submit([1, 2, 3], outputLength: 3)
        for _ in 0..<6000 where f.usedIndex != 1 { usleep(10_000) }  // up to 60 s under load
        #expect(f.usedIndex == 1)
        // A new call descriptor is signalled once on arrival: that must not block either.
        f.send(.setVringCall, payload: FakeFrontend.le64(0), fds: [f.call.fd])
        #expect(f.sync(), "the connection thread must not block on the full counter")
        f.submit([4, 5, 6], outputLength: 3)
        for _ in 0..<6000 where f.usedIndex != 2 { usleep(10_000) }  // up to 60 s under load
        #expect(f.usedIndex == 2, "the device thread must not block on the full counter")
    }
}
