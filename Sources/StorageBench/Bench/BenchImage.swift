#if canImport(Glibc)
import Glibc
#endif

/// The raw image both backends serve in a run: created once, filled with data (a sparse file
/// would let reads of holes skip work a real disk image needs), and removed at the end.
public struct BenchImage: Sendable {
    /// The file, and its size in bytes.
    public let path: String
    public let size: UInt64

    /// Creates `path` with `size` bytes (a multiple of 1 MiB) of ``DataPattern`` data.
    /// `open(2)`, `pwrite(2)`.
    public static func create(at path: String, size: UInt64) throws(StorageBenchError) -> BenchImage {
        let chunk = 1 << 20
        guard size >= UInt64(chunk), size % UInt64(chunk) == 0 else {
            throw .badParameter("image size \(size) is not a positive multiple of 1 MiB")
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .system(call: "open(\(path))", errno: errno) }
        defer { close(fd) }
        let pattern = DataPattern(seed: 0x1a6e)
        var buffer = [UInt8](repeating: 0, count: chunk)
        var offset: UInt64 = 0
        while offset < size {
            buffer.withUnsafeMutableBytes { b in if let p = b.baseAddress { pattern.fill(p, count: chunk, diskOffset: offset) } }
            var done = 0
            while done < chunk {
                let n = buffer.withUnsafeBytes { b in pwrite(fd, b.baseAddress.map { $0 + done }, chunk - done, off_t(offset) + off_t(done)) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw .system(call: "pwrite(\(path))", errno: n < 0 ? errno : ENOSPC) }
                done += n
            }
            offset += UInt64(chunk)
        }
        return BenchImage(path: path, size: size)
    }

    /// Whether the file system under `path` takes `O_DIRECT` (tmpfs does since Linux 6.6;
    /// older kernels answer `EINVAL`). `open(2)`.
    public static func supportsDirectIO(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | oDirect | O_CLOEXEC)
        guard fd >= 0 else { return false }
        close(fd)
        return true
    }

    /// `O_DIRECT`, which Glibc's Swift module hides behind `_GNU_SOURCE`; its value differs
    /// by architecture (`asm/fcntl.h`).
    #if arch(arm64)
    static let oDirect: Int32 = 0o200000
    #else
    static let oDirect: Int32 = 0o40000
    #endif

    /// Deletes the file.
    public func remove() { unlink(path) }
}
