import Foundation
import SwiftdmTestSupport
import Testing

/// The launcher against hostile input: FIFOs where files are expected (they would block
/// `open()` for ever), a negative memory size, and a vhost-user frontend that stops reading
/// or sends half a message — SIGTERM still ends `swiftdm vhost-user` within two seconds.
@Suite(.enabled(if: SwiftdmExecutable.path != nil, "needs the swiftdm executable (see the SKIP line)"), .serialized)
struct HostilePeerLauncherTests {
    static let fifo: String = {
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("swiftdm-fifo-\(getpid())").path
        unlink(p)
        mkfifo(p, 0o600)
        return p
    }()

    static let file: String = {
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("swiftdm-hostile-\(getpid()).img").path
        _ = FileManager.default.createFile(atPath: p, contents: Data(count: 4096))
        return p
    }()

    @Test(arguments: [
        ["run", "--kernel", fifo],
        ["run", "--kernel", file, "--initrd", fifo],
        ["run", "--firmware", fifo],
        ["run", "--firmware", file, "--disk", fifo],
        ["vhost-user", "--socket", "/tmp/sdm-fifo-\(getpid()).sock", "--blk", "\(fifo),readonly=on"],
    ])
    func fifoIsRefusedWithOneLine(arguments: [String]) throws {
        let start = Date()
        let r = try SwiftdmExecutable.run(arguments, timeout: 10)
        #expect(Date().timeIntervalSince(start) < 8, "\(arguments) blocked")
        #expect(r.status == 2 || r.status == 1, "\(arguments): status \(r.status)")
        #expect(r.stderr.contains("FIFO"), "\(arguments): \(r.stderr)")
        #expect(r.stderrLines.count == 1, "\(r.stderr)")
    }

    @Test func negativeMemorySaysWhatIsExpected() throws {
        let r = try SwiftdmExecutable.run(["run", "--firmware", Self.file, "--memory", "-1"], timeout: 30)
        #expect(r.status == 2)
        #expect(r.stderr.contains("--memory '-1'"), "\(r.stderr)")
        #expect(!r.stderr.contains("Missing value"), "\(r.stderr)")
    }

    /// A frontend that floods requests and never reads a reply, and one that sends half a
    /// header and then nothing: SIGTERM ends the backend within two seconds either way.
    @Test(arguments: ["flood", "partial"])
    func sigtermEndsVhostUserWithinTwoSeconds(peer: String) throws {
        let socket = "/tmp/sdm-hostile-\(getpid())-\(peer).sock"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: SwiftdmExecutable.path!)
        p.arguments = ["vhost-user", "--socket", socket, "--rng"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }

        let fd = socket.withCString { path -> Int32 in
            for _ in 0..<500 {
                let s = Foundation.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
                var addr = sockaddr_un()
                addr.sun_family = sa_family_t(AF_UNIX)
                withUnsafeMutableBytes(of: &addr.sun_path) { strcpy($0.baseAddress!.assumingMemoryBound(to: CChar.self), path) }
                let ok = withUnsafePointer(to: &addr) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
                }
                if ok == 0 { return s }
                close(s)
                usleep(20_000)
            }
            return -1
        }
        try #require(fd >= 0, "could not connect to \(socket)")
        defer { close(fd) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        // GET_FEATURES (1), version 1, no payload.
        let getFeatures: [UInt8] = [1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
        switch peer {
        case "flood":
            // Until the socket is full both ways: the backend's replies have nowhere to go.
            var full = 0
            for _ in 0..<1_000_000 where full < 50 {
                if send(fd, getFeatures, getFeatures.count, Int32(MSG_NOSIGNAL)) < 0 { full += 1; usleep(10_000) }
            }
        default:
            _ = send(fd, getFeatures, 5, Int32(MSG_NOSIGNAL))
        }
        usleep(300_000)
        let start = Date()
        kill(p.processIdentifier, SIGTERM)
        while p.isRunning && Date().timeIntervalSince(start) < 10 { usleep(10_000) }
        let took = Date().timeIntervalSince(start)
        #expect(!p.isRunning, "still running 10 s after SIGTERM")
        #expect(took < 2, "took \(took) s to end after SIGTERM")
        #expect(access(socket, F_OK) != 0, "socket path left behind")
    }
}
