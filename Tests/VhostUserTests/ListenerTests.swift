import DeviceModel
import Testing
@testable import VhostUser
#if canImport(Glibc)
import Glibc
#endif

@Suite("vhost-user socket listener")
struct ListenerTests {
    private func temporaryDirectory() -> String {
        var template = Array("/tmp/swiftdm-vu-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }

    private func connect(_ path: String) -> Int32? {
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        let rc = UnixSocketListener.withAddress(path) { Glibc.connect(s, $0, $1) }
        guard rc == 0 else { close(s); return nil }
        return s
    }

    @Test("listens on a path, replaces a stale socket, serves reconnects, removes the path on shutdown")
    func lifecycle() throws {
        let dir = temporaryDirectory()
        let path = dir + "/blk.sock"
        // A stale socket: bound, then its owner went away without unlinking.
        do {
            let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            #expect(UnixSocketListener.withAddress(path) { bind(stale, $0, $1) } == 0)
            close(stale)
        }
        let h = try BackendHarness()
        try h.backend.listen(on: path)
        // A second backend on the same path is refused while the first one listens.
        let other = try BackendHarness()
        #expect(throws: VhostUserError.socketInUse(path)) { try other.backend.listen(on: path) }

        for round in 0..<2 {
            let s = try #require(connect(path), "round \(round)")
            let header = VhostUserHeader(request: VhostUserRequest.getFeatures.rawValue, flags: 1, size: 0).encoded
            #expect(send(s, header, header.count, 0) == 12)
            var reply = [UInt8](repeating: 0, count: 20)
            #expect(recv(s, &reply, 20, Int32(MSG_WAITALL)) == 20)
            #expect(VhostUserHeader(decoding: reply).flags == 5)
            close(s)
            #expect(h.nextEnd() != nil)
        }
        h.backend.shutdown()
        var st = stat()
        #expect(lstat(path, &st) != 0, "the socket path is removed")
        rmdir(dir)
    }

    @Test("a path that is not a socket is not replaced")
    func occupiedPath() throws {
        let dir = temporaryDirectory()
        let path = dir + "/file"
        let fd = open(path, O_CREAT | O_WRONLY, 0o600)
        close(fd)
        #expect(throws: VhostUserError.socketPathOccupied(path)) { _ = try UnixSocketListener(path: path) }
        unlink(path)
        rmdir(dir)
    }

    @Test("an over-long path is refused")
    func longPath() {
        let path = "/tmp/" + String(repeating: "x", count: 200)
        #expect(throws: VhostUserError.socketPathTooLong(path, maximum: 107)) { _ = try UnixSocketListener(path: path) }
    }
}
