import Foundation
import Testing
@testable import swiftdm
@testable import VhostUser

@Suite("swiftdm vhost-user command line")
struct VhostUserCommandLineTests {
    private func spec(_ arguments: [String]) throws -> VhostUserDeviceSpec {
        try VhostUserCommand.parse(["--socket", "/tmp/x.sock"] + arguments).deviceSpec()
    }

    @Test("the documented device spellings")
    func spellings() throws {
        #expect(try spec(["--blk", "/img"]) == .block(path: "/img", readOnly: false, serial: nil))
        #expect(try spec(["--blk", "/img,readonly=on,serial=disk0"]) == .block(path: "/img", readOnly: true, serial: "disk0"))
        #expect(try spec(["--blk", "/a,,b,readonly=off"]) == .block(path: "/a,b", readOnly: false, serial: nil))
        #expect(try spec(["--rng"]) == .entropy)
        #expect(try spec(["--console"]) == .console(.stdio))
        #expect(try spec(["--console", "stdio"]) == .console(.stdio))
        #expect(try spec(["--console", "socket=/tmp/con.sock"]) == .console(.socket(path: "/tmp/con.sock")))
    }

    @Test("wrong device arguments are refused before anything starts")
    func refusals() {
        for bad in [[], ["--rng", "--console"], ["--blk", "/img,cache=none"], ["--blk", ""],
                    ["--blk", "/img,serial=123456789012345678901"], ["--console", "tcp=1"], ["stdio"]] {
            #expect(throws: (any Error).self, "\(bad)") { _ = try VhostUserCommand.parseAsRoot(["--socket", "/tmp/x.sock"] + bad) }
        }
    }
}

@Suite("swiftdm vhost-user process",
       .enabled(if: LinuxGuestHost.swiftdmAvailable, "needs the swiftdm executable next to the test bundle (see the SKIP line)"))
struct VhostUserProcessTests {
    /// One request/reply round trip as a frontend would start: GET_FEATURES.
    private func features(at path: String) -> UInt64? {
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(s) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard UnixSocketListener.withAddress(path, { connect(s, $0, $1) }) == 0 else { return nil }
        let request = VhostUserHeader(request: VhostUserRequest.getFeatures.rawValue, flags: 1, size: 0).encoded
        guard send(s, request, request.count, 0) == 12 else { return nil }
        var reply = [UInt8](repeating: 0, count: 20)
        guard recv(s, &reply, 20, Int32(MSG_WAITALL)) == 20 else { return nil }
        return reply[12..<20].enumerated().reduce(0) { $0 | UInt64($1.1) << (8 * UInt64($1.0)) }
    }

    @Test("serves frontend after frontend, exits 0 and removes its socket on SIGINT and SIGTERM",
          arguments: [SIGINT, SIGTERM])
    func lifecycle(signal: Int32) throws {
        let dir = try LinuxGuestHost.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let backend = try BackendProcess(socket: dir + "/rng.sock", device: ["--rng"])
        for _ in 0..<3 {
            let f = try #require(features(at: backend.socket))
            #expect(f & VhostUserFeature.protocolFeatures != 0)
            #expect(f & (1 << 32) != 0, "VIRTIO_F_VERSION_1")
        }
        backend.process.send(signal: signal)
        #expect(backend.process.waitForExit(timeout: .seconds(20)))
        #expect(!backend.process.terminatedBySignal)
        #expect(backend.process.terminationStatus == 0)
        #expect(!FileManager.default.fileExists(atPath: backend.socket))
    }

    @Test("a missing image is a clear error and a non-zero exit")
    func missingImage() throws {
        let dir = try LinuxGuestHost.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = try ConsoleProcess([LinuxGuestHost.swiftdm!, "vhost-user", "--socket", dir + "/b.sock", "--blk", dir + "/nope.img"])
        #expect(p.waitForExit(timeout: .seconds(20)))
        #expect(p.terminationStatus != 0)
        #expect(p.output.contains("nope.img"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/b.sock"))
    }
}
