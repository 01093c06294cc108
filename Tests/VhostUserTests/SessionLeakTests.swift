import DeviceModel
import Logging
import Testing
@testable import VhostUser
#if canImport(Glibc)
import Glibc
#endif

/// A session's resources go with the session: after many frontends that each activated the
/// device and did I/O, the backend holds no more descriptors and no more of their memory.
@Suite("vhost-user session resources", .serialized)
struct SessionLeakTests {
    /// 200 by default; `SWIFTDM_LEAK_SESSIONS=1000` for the long check (about 2 s).
    static let sessions = getenv("SWIFTDM_LEAK_SESSIONS").flatMap { Int(String(cString: $0)) } ?? 200

    static func openDescriptors() -> Int {
        guard let dir = opendir("/proc/self/fd") else { return -1 }
        defer { closedir(dir) }
        var n = 0
        while readdir(dir) != nil { n += 1 }
        return n
    }

    /// Mappings of the fake frontends' RAM files (`/tmp/swiftdm-vu-ram-XXXXXX (deleted)`).
    static func frontendMappings() -> Int {
        guard let f = fopen("/proc/self/maps", "r") else { return -1 }
        defer { fclose(f) }
        var n = 0
        var line = [CChar](repeating: 0, count: 4096)
        while fgets(&line, Int32(line.count), f) != nil {
            if Self.text(line).contains("swiftdm-vu-ram") { n += 1 }
        }
        return n
    }

    /// A NUL-terminated line read by `fgets`.
    static func text(_ line: [CChar]) -> String {
        String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The process's resident set in KiB (`VmRSS`), or -1.
    static func residentKiB() -> Int {
        guard let f = fopen("/proc/self/status", "r") else { return -1 }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), f) != nil {
            let text = Self.text(line)
            if text.hasPrefix("VmRSS:") { return Int(text.split(separator: " ").dropFirst().first ?? "") ?? -1 }
        }
        return -1
    }

    @Test func manySessionsWithIOLeaveNothingBehind() throws {
        let device = try SlowServiceDevice(delay: .zero)
        var logger = Logger(label: "test.vhost-user")
        logger.logLevel = .critical
        let ends = SessionEndLog()
        let backend = try VhostUserBackend(device: device, logger: logger) { ends.record($0) }
        defer { backend.shutdown() }

        func session() {
            let f = FakeFrontend()
            backend.serve(connectedSocket: f.backendFD)
            f.negotiate(protocolFeatures: VhostUserProtocolFeatures.supported.subtracting(.config))
            f.setUpRing()
            f.submit([1, 2, 3], outputLength: 3)
            #expect(f.waitForUsed(1))
        }
        // One session first, so lazily created threads and caches are in the baseline.
        session()
        // Each session must be over before the next connects: the backend refuses a second
        // frontend while one is served.
        try #require(ends.next() != nil, "the first session never ended")
        let fds = Self.openDescriptors()
        let maps = Self.frontendMappings()
        let rss = Self.residentKiB()
        for _ in 0..<Self.sessions {
            session()
            #expect(ends.next() != nil)
        }
        // Other suites run in parallel in this process and open descriptors and frontend RAM
        // of their own (a few dozen at once under load, seen: +12 with a fixed slack of 8):
        // allow a quarter of the session count, far below the one per session a leak adds.
        let slack = max(8, Self.sessions / 4)
        var after = (fds: Self.openDescriptors(), maps: Self.frontendMappings())
        for _ in 0..<100 where after.fds > fds + slack || after.maps > maps + slack {
            usleep(20_000)
            after = (Self.openDescriptors(), Self.frontendMappings())
        }
        // Resident memory is only printed: suites running beside this one move it.
        print("vhost-user sessions: \(Self.sessions) with I/O; descriptors \(fds) → \(after.fds), frontend RAM mappings \(maps) → \(after.maps), resident \(rss / 1024) → \(Self.residentKiB() / 1024) MiB")
        #expect(after.fds <= fds + slack, "descriptors before \(fds), after \(after.fds) (\(Self.sessions) sessions)")
        #expect(after.maps <= maps + slack, "frontend RAM mappings before \(maps), after \(after.maps)")
    }
}
