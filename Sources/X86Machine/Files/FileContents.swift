#if canImport(Glibc)
import Glibc
#endif

/// Reads whole files (kernel, initrd, firmware) for the loaders, without Foundation.
enum FileContents {
    /// Why a file could not be read; callers add the path and map it to their module's error.
    enum Failure: Error, Equatable {
        /// `open`, `fstat`, `fcntl` or `read` failed with this errno.
        case systemError(errno: Int32)
        /// Not a regular file; `kind` names what it is (``FileKind``).
        case notRegularFile(kind: String)
        /// The file is larger than the caller accepts (checked before reading it).
        case tooLarge(size: Int64, maximum: Int)
    }

    /// Reads the file at `path` if it is a regular file of at most `maximumSize` bytes.
    ///
    /// Opened with `O_NONBLOCK` so that a FIFO (which would block `open` until a writer
    /// appears) is found by `fstat` instead; the type and size are checked before a byte is
    /// read, so a huge sparse file is refused without allocating for it.
    static func read(path: String, maximumSize: Int) throws(Failure) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { throw .systemError(errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .systemError(errno: errno) }
        guard st.st_mode & S_IFMT == S_IFREG else { throw .notRegularFile(kind: FileKind.name(ofMode: st.st_mode)) }
        guard st.st_size <= maximumSize else { throw .tooLarge(size: Int64(st.st_size), maximum: maximumSize) }
        // Regular files never block; clear the flag anyway so reads behave as documented.
        guard fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) == 0 else { throw .systemError(errno: errno) }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var done = 0
        var failure: Int32 = 0
        bytes.withUnsafeMutableBytes { buffer in
            // An empty file has no buffer (and nothing to read).
            guard let base = buffer.baseAddress else { return }
            while done < buffer.count {
                let n = Glibc.read(fd, base + done, buffer.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                if n == 0 { break }  // the file shrank; keep what was read
                done += n
            }
        }
        guard failure == 0 else { throw .systemError(errno: failure) }
        return Array(bytes.prefix(done))
    }

    /// Reads a kernel or initrd of at most `maximumSize` bytes; errors carry the path.
    static func readBootFile(path: String, maximumSize: Int) throws(LinuxBootError) -> [UInt8] {
        do throws(Failure) {
            return try read(path: path, maximumSize: maximumSize)
        } catch {
            switch error {
            case .systemError(let e): throw .fileUnreadable(path: path, errno: e)
            case .notRegularFile(let kind): throw .notRegularFile(path: path, kind: kind)
            case .tooLarge(let size, let maximum): throw .fileTooLarge(path: path, size: size, maximum: maximum)
            }
        }
    }
}
