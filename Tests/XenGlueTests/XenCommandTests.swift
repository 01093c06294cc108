import Testing
import XenGlue
#if canImport(Glibc)
import Glibc
#endif

/// `swiftdm xen` on a host without Xen: the built binary prints one clear line and exits
/// non-zero.
@Suite struct XenCommandTests {
    static let onXen = access(XenGlueInfo.privcmdPath, F_OK) == 0

    /// `.build/debug/swiftdm` of this package (built by `swift build` / `swift test`).
    static var binary: String? {
        var path = #filePath
        for _ in 0..<3 { path = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]) }
        let candidate = path + "/.build/debug/swiftdm"
        return access(candidate, X_OK) == 0 ? candidate : nil
    }

    /// Runs `arguments` and returns (exit status, stdout, stderr).
    static func run(_ arguments: [String]) throws -> (Int32, String, String) {
        var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { throw Failure.spawn(errno) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        posix_spawn_file_actions_addclose(&actions, outPipe[0])
        posix_spawn_file_actions_addclose(&actions, errPipe[0])
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, arguments[0], &actions, nil, &argv, environ)
        close(outPipe[1])
        close(errPipe[1])
        guard rc == 0 else { throw Failure.spawn(rc) }
        let out = readAll(outPipe[0]), err = readAll(errPipe[0])
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let exited = status & 0x7f == 0
        return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), out, err)
    }

    static func readAll(_ fd: Int32) -> String {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, 4096) }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        close(fd)
        return String(decoding: bytes, as: UTF8.self)
    }

    enum Failure: Error { case spawn(Int32) }

    @Test(.enabled(if: !onXen, "SKIP: this host has /dev/xen/privcmd (a Xen dom0); attaching would be real"),
          .enabled(if: binary != nil, "SKIP: .build/debug/swiftdm is not built (run swift build first)"))
    func xenWithoutXenFailsWithOneLine() throws {
        let (status, out, err) = try Self.run([try #require(Self.binary), "xen", "--domid", "1"])
        #expect(status != 0)
        #expect(out.isEmpty)
        let lines = err.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(err)")
        #expect(lines.first == "swiftdm xen: cannot attach to domain 1: not running on Xen: /dev/xen/privcmd does not exist (swiftdm xen needs a Xen dom0)")
    }

    @Test(.enabled(if: binary != nil, "SKIP: .build/debug/swiftdm is not built (run swift build first)"))
    func domainZeroIsRefused() throws {
        let (status, _, err) = try Self.run([try #require(Self.binary), "xen", "--domid", "0"])
        #expect(status == 2)
        #expect(err == "swiftdm xen: --domid must name a guest domain (1…32751), not 0\n")
        let (status2, _, err2) = try Self.run([try #require(Self.binary), "xen", "--domid", "1", "--disk", "/nonexistent/disk.img"])
        #expect(status2 == 2)
        #expect(err2 == "swiftdm xen: --disk /nonexistent/disk.img: No such file or directory\n")
    }

    static let ldd: String? = ["/usr/bin/ldd", "/bin/ldd"].first { access($0, X_OK) == 0 }

    /// The launcher links the real libxen libraries (through XenGlue's CXen module).
    @Test(.enabled(if: binary != nil, "SKIP: .build/debug/swiftdm is not built (run swift build first)"),
          .enabled(if: ldd != nil, "SKIP: ldd is not installed"))
    func swiftdmLinksLibxen() throws {
        let (status, out, _) = try Self.run([try #require(Self.ldd), try #require(Self.binary)])
        #expect(status == 0)
        for library in ["libxendevicemodel", "libxenforeignmemory", "libxenevtchn", "libxenstore"] {
            #expect(out.contains(library + ".so"), "\(library) missing from ldd output")
        }
    }
}
