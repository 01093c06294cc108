import GuestKit
#if canImport(Glibc)
import Glibc
#endif

/// Everything `swiftdm bench` needs to know for the storage scenarios.
public struct StorageBenchOptions: Sendable {
    /// Alternating rounds per scenario (each round measures swiftdm, then qemu-storage-daemon).
    public var rounds: Int
    /// Image size in bytes (a multiple of 1 MiB).
    public var imageSize: UInt64
    /// Where the image and sockets live (tmpfs, so the disk under the image is not what is measured).
    public var directory: String
    /// The swiftdm executable whose `vhost-user --blk` is measured.
    public var swiftdm: String
    /// Appended to swiftdm's `--blk IMAGE` (`aio=io_uring`, `cache=none`), to compare its
    /// engines; empty for its defaults.
    public var swiftdmDiskOptions: String = ""
    /// Runs qemu-storage-daemon's export in an iothread polling up to this long; `nil`: its
    /// main loop, without polling.
    public var qsdPollMaxNanoseconds: Int?
    /// `qemu-storage-daemon` and `fio`, `nil` when not installed.
    public var qemuStorageDaemon: String?
    /// The fio executable for the limit row.
    public var fio: String?
    /// Seconds each measurement runs, after `warmupSeconds` of the same load on the same connection.
    public var seconds: Double
    public var warmupSeconds: Double
    /// What is measured, in table order.
    public var scenarios: [BenchScenario]

    /// The defaults: `quick` is 3 rounds of 2 s (about two minutes for the five scenarios),
    /// otherwise 5 rounds of 5 s. The peers are looked up on `PATH`; swiftdm is the launcher
    /// that handed `swiftdm bench` over (`SWIFTDM_EXECUTABLE`), else this process's own executable.
    public static func defaults(quick: Bool) -> StorageBenchOptions {
        let launcher = getenv("SWIFTDM_EXECUTABLE").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        return StorageBenchOptions(
            rounds: quick ? 3 : 5, imageSize: 1 << 30, directory: "/dev/shm", swiftdm: launcher ?? currentExecutable() ?? "swiftdm",
            qemuStorageDaemon: HostCommand.path(of: "qemu-storage-daemon"), fio: HostCommand.path(of: "fio"),
            seconds: quick ? 2 : 5, warmupSeconds: quick ? 0.5 : 1, scenarios: BenchScenario.standard)
    }

    /// `/proc/self/exe`, resolved. `readlink(2)`.
    public static func currentExecutable() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Parses sizes as `swiftdm bench --image-size` takes them: bytes, or a number with K, M or G
    /// (binary multiples), e.g. `512M`, `1G`.
    public static func parseSize(_ text: String) -> UInt64? {
        let units: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        guard let last = text.uppercased().last else { return nil }
        if let unit = units[last] {
            return UInt64(text.dropLast()).flatMap { $0.multipliedReportingOverflow(by: unit).overflow ? nil : $0 * unit }
        }
        return UInt64(text)
    }
}
