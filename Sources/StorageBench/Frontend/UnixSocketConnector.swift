#if canImport(Glibc)
import Glibc
#endif

/// Connects a stream socket to a UNIX socket path, retrying while the backend starts.
enum UnixSocketConnector {
    /// A connected, close-on-exec `AF_UNIX` stream socket; retries every 20 ms for up to
    /// `timeoutSeconds` while the path is missing or refuses (a backend still starting).
    /// `socket(2)`, `connect(2)`.
    static func connect(to path: String, timeoutSeconds: Double) throws(StorageBenchError) -> Int32 {
        var address = sockaddr_un()
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { throw .socketPathTooLong(path, maximum: capacity - 1) }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { p in for (i, b) in bytes.enumerated() { p[i] = b } }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .milliseconds(Int(timeoutSeconds * 1000)))
        var lastError: Int32 = 0
        repeat {
            let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard s >= 0 else { throw .system(call: "socket(AF_UNIX)", errno: errno) }
            let r = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            if r == 0 { return s }
            lastError = errno
            close(s)
            // Only "not there yet" is worth waiting for; anything else will not change.
            guard lastError == ENOENT || lastError == ECONNREFUSED || lastError == EINTR || lastError == EAGAIN else { break }
            usleep(20_000)
        } while clock.now < deadline
        throw .connectFailed(path: path, errno: lastError)
    }
}
