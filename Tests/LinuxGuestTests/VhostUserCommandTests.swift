import Foundation
import GuestKit
import Testing

@Suite("swiftdm vhost-user command line",
       .enabled(if: LinuxGuestHost.swiftdmAvailable, "needs the swiftdm executable next to the test bundle (see the SKIP line)"))
struct VhostUserCommandLineTests {
    @Test("the documented device spellings")
    func spellings() throws {
        let dir = try LinuxGuestHost.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let image = try TestImage.create(at: dir + "/img", size: 1 << 20, randomPrefix: 0).path
        let commaImage = try TestImage.create(at: dir + "/a,b", size: 1 << 20, randomPrefix: 0).path
        let cases: [(device: [String], served: String)] = [
            (["--blk", image], "virtio-blk \(image)"),
            (["--blk", "\(image),readonly=on,serial=disk0"], "virtio-blk \(image) (read-only) serial disk0"),
            (["--blk", "\(dir)/a,,b,readonly=off"], "virtio-blk \(commaImage)"),
            (["--rng"], "virtio-rng"),
            (["--console"], "virtio-console on stdio"),
            (["--console", "stdio"], "virtio-console on stdio"),
            (["--console", "socket=\(dir)/con.sock"], "virtio-console (host end: socket \(dir)/con.sock)"),
        ]
        for (i, c) in cases.enumerated() {
            #expect(try VhostUserCommandLine.servedDevice(c.device, socket: dir + "/\(i).sock") == c.served, "\(c.device)")
        }
    }

    @Test("wrong device arguments are refused before anything starts")
    func refusals() throws {
        let dir = try LinuxGuestHost.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for bad in [[], ["--rng", "--console"], ["--blk", "/img,aio=native"], ["--blk", ""],
                    ["--blk", "/img,serial=123456789012345678901"], ["--console", "tcp=1"], ["stdio"]] {
            #expect(try VhostUserCommandLine.refuses(bad, socket: dir + "/x.sock"), "\(bad)")
        }
    }
}

@Suite("swiftdm vhost-user process",
       .enabled(if: LinuxGuestHost.swiftdmAvailable, "needs the swiftdm executable next to the test bundle (see the SKIP line)"))
struct VhostUserProcessTests {
    /// One request/reply round trip as a frontend would start: VHOST_USER_GET_FEATURES. The
    /// header is three little-endian u32s — request (1), flags (version 1), payload size (0);
    /// the reply's payload is the u64 feature mask (vhost-user spec, "Message Specification").
    private func features(at path: String) -> UInt64? {
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(s) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { p in for (i, b) in bytes.enumerated() { p[i] = b } }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { return nil }
        let request: [UInt8] = [1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
        guard send(s, request, request.count, 0) == 12 else { return nil }
        var reply = [UInt8](repeating: 0, count: 20)
        // SIGCHLD (this test reaps the backends it starts) interrupts a recv on a socket with
        // a receive timeout even with SA_RESTART: continue where it stopped.
        var got = 0
        while got < reply.count {
            let n = reply.withUnsafeMutableBytes { recv(s, $0.baseAddress! + got, $0.count - got, Int32(MSG_WAITALL)) }
            if n > 0 { got += n } else if !(n < 0 && errno == EINTR) { return nil }
        }
        return reply[12..<20].enumerated().reduce(0) { $0 | UInt64($1.1) << (8 * UInt64($1.0)) }
    }

    @Test("serves frontend after frontend, exits 0 and removes its socket on SIGINT and SIGTERM",
          arguments: [SIGINT, SIGTERM])
    func lifecycle(signal: Int32) throws {
        let dir = try LinuxGuestHost.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let backend = try VhostUserBackendProcess(socket: dir + "/rng.sock", device: ["--rng"])
        for _ in 0..<3 {
            let f = try #require(features(at: backend.socket))
            #expect(f & (1 << 30) != 0, "VHOST_USER_F_PROTOCOL_FEATURES")
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
        let p = try ConsoleProcess([try LinuxGuestHost.requireSwiftdm(), "vhost-user", "--socket", dir + "/b.sock", "--blk", dir + "/nope.img"])
        #expect(p.waitForExit(timeout: .seconds(20)))
        #expect(p.terminationStatus != 0)
        #expect(p.output.contains("nope.img"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/b.sock"))
    }
}
