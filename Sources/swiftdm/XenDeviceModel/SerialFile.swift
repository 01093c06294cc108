#if canImport(Glibc)
import Glibc
#endif

/// COM1's output appended to a file (`-serial file:PATH`), opened before the guest runs so a
/// bad path is refused at start. Bytes are written as they come: the log is complete even if
/// the process is killed.
final class SerialFile: Sendable {
    let path: String
    private let fd: Int32

    init(path: String) throws(XenDeviceModelOptions.Refusal) {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .init("-serial file:\(path): \(String(cString: strerror(errno)))") }
        self.path = path
        self.fd = fd
    }

    deinit { close(fd) }

    func write(_ byte: UInt8) {
        var b = byte
        while Glibc.write(fd, &b, 1) < 0 && errno == EINTR {}
    }
}
