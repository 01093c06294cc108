#if canImport(Glibc)
import Glibc
#endif

/// Reads whole files (kernel, initrd) for the boot loader, without Foundation.
enum FileContents {
    /// Reads the file at `path`; errors carry the path and errno.
    static func read(path: String) throws(LinuxBootError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .fileUnreadable(path: path, errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .fileUnreadable(path: path, errno: errno) }
        guard st.st_mode & S_IFMT == S_IFREG else { throw .fileUnreadable(path: path, errno: EINVAL) }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var done = 0
        var failure: Int32 = 0
        bytes.withUnsafeMutableBytes { buffer in
            while done < buffer.count {
                let n = Glibc.read(fd, buffer.baseAddress! + done, buffer.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                if n == 0 { break }  // the file shrank; keep what was read
                done += n
            }
        }
        guard failure == 0 else { throw .fileUnreadable(path: path, errno: failure) }
        return Array(bytes.prefix(done))
    }
}
