import Foundation
import Testing
import GuestKit

/// What the real-Linux tests need from the host, checked once per test process: QEMU,
/// the `swiftdm` executable (the tests run its `vhost-user` backends as child processes,
/// as other tools would), and the guest kit (built once into the shared cache directory).
enum LinuxGuestHost {
    static let swiftdm: String? = {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [dir, dir.deletingLastPathComponent()] {
            let p = candidate.appendingPathComponent("swiftdm").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }()

    /// The guest kit, or why there is none.
    static let kit: Result<BuiltGuestKit, SkipReason> = {
        guard swiftdm != nil else { return .failure(SkipReason("the swiftdm executable is not next to the test bundle (swift build first)")) }
        guard HostCommand.exists("qemu-system-x86_64") else { return .failure(SkipReason("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)")) }
        for tool in ["apt-get", "dpkg-deb", "gzip", "sha256sum"] where !HostCommand.exists(tool) {
            return .failure(SkipReason("\(tool) is not available to build the guest kit"))
        }
        do {
            let builder = GuestKitBuilder(outputDirectory: BuiltGuestKit.defaultDirectory) { print("guest-kit: \($0)") }
            return .success(try builder.build())
        } catch {
            return .failure(SkipReason("the guest kit could not be built: \(error)"))
        }
    }()

    struct SkipReason: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    static var available: Bool {
        switch kit {
        case .success: return true
        case .failure(let reason):
            print("SKIP: real-Linux vhost-user tests: \(reason)")
            return false
        }
    }

    static var swiftdmAvailable: Bool {
        if swiftdm == nil { print("SKIP: swiftdm process tests: the swiftdm executable is not next to the test bundle (swift build first)") }
        return swiftdm != nil
    }

    static var umlAvailable: Bool {
        guard case .success(let k) = kit else { return false }
        if k.umlKernel == nil { print("SKIP: user-mode Linux tests: the user-mode-linux package is unavailable") }
        return k.umlKernel != nil
    }

    static var toolsAvailable: Bool {
        guard case .success(let k) = kit else { return false }
        if k.toolsInitrd == nil { print("SKIP: fio checks: fio/iperf3 are not installed on the host (apt-get install fio iperf3)") }
        return k.toolsInitrd != nil
    }

    static func requireKit() throws -> BuiltGuestKit { try kit.get() }

    static func requireSwiftdm() throws -> String {
        guard let swiftdm else { throw SkipReason("the swiftdm executable is not next to the test bundle (swift build first)") }
        return swiftdm
    }

    /// A fresh directory for one test's images and sockets (short path: sockaddr_un limit).
    static func scratchDirectory() throws -> String {
        try ScratchDirectory.create(prefix: "/tmp/sdm-lg-")
    }

    /// Echoes guest consoles when SWIFTDM_TEST_VERBOSE is set.
    static let echo: (@Sendable (String) -> Void)? = {
        guard ProcessInfo.processInfo.environment["SWIFTDM_TEST_VERBOSE"] != nil else { return nil }
        return HostOutput.standardError
    }()
}

/// A disk image with known content.
struct TestImage {
    let path: String
    let size: Int

    /// `size` bytes: the first `randomPrefix` random, the rest zero.
    static func create(at path: String, size: Int, randomPrefix: Int) throws -> TestImage {
        let urandom = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/dev/urandom"))
        let data = try urandom.read(upToCount: randomPrefix) ?? Data()
        try urandom.close()
        _ = FileManager.default.createFile(atPath: path, contents: data)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try h.truncate(atOffset: UInt64(size))
        try h.close()
        return TestImage(path: path, size: size)
    }

    /// SHA-256 (hex) of `count` bytes at `offset`, computed by the host's sha256sum.
    func sha256(offset: Int = 0, count: Int) throws -> String {
        let h = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        try h.seek(toOffset: UInt64(offset))
        let data = try h.read(upToCount: count) ?? Data()
        try h.close()
        return String(try HostCommand.run(["sha256sum"], input: data).prefix(64))
    }

    func read(offset: Int, count: Int) throws -> Data {
        let h = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? h.close() }
        try h.seek(toOffset: UInt64(offset))
        return try h.read(upToCount: count) ?? Data()
    }
}

extension VhostUserBackendProcess {
    /// Starts `swiftdm vhost-user --socket SOCKET <device arguments>` from next to the test
    /// bundle (under `launcher`, such as `ip netns exec NAME`), echoing its log when
    /// SWIFTDM_TEST_VERBOSE is set, and waits for its socket.
    convenience init(socket: String, device: [String], launcher: [String] = []) throws {
        try self.init(swiftdm: try LinuxGuestHost.requireSwiftdm(), socket: socket, device: device,
                      launcher: launcher, echo: LinuxGuestHost.echo)
    }
}
