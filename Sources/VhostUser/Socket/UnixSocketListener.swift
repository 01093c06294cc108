#if canImport(Glibc)
import Glibc
#endif

/// A listening `AF_UNIX` stream socket at a filesystem path, as vhost-user frontends
/// expect (QEMU `-chardev socket,path=…`, UML `virtio_uml.device=PATH:ID`).
///
/// A stale socket left by a crashed backend is replaced; a live one (something accepts
/// connections) or a non-socket file is not. The path is removed again on ``close()``.
public final class UnixSocketListener {
    public let path: String
    public let fd: Int32
    private var closed = false

    /// Creates, binds and listens (`socket`/`bind`/`listen`).
    public init(path: String, backlog: Int32 = 4) throws(VhostUserError) {
        self.path = path
        let maxPath = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1
        guard path.utf8.count <= maxPath else { throw .socketPathTooLong(path, maximum: maxPath) }
        try Self.removeStaleSocket(at: path)

        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw .system(call: "socket(AF_UNIX)", errno: errno) }
        let rc = Self.withAddress(path) { addr, len in bind(s, addr, len) }
        guard rc == 0 else {
            let e = errno
            Glibc.close(s)
            throw .system(call: "bind(\(path))", errno: e)
        }
        guard listen(s, backlog) == 0 else {
            let e = errno
            Glibc.close(s)
            unlink(path)
            throw .system(call: "listen(\(path))", errno: e)
        }
        _ = fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK)
        fd = s
    }

    deinit { close() }

    /// Accepts one pending connection (`accept4`, close-on-exec); `nil` if none is pending
    /// or it vanished before it was accepted.
    public func accept() throws(VhostUserError) -> Int32? {
        while true {
            // The listening socket is non-blocking (a connection may vanish between poll and
            // accept); the accepted one is blocking with timeouts (see VhostUserChannel).
            let c = Glibc.accept(fd, nil, nil)
            if c >= 0 {
                _ = fcntl(c, F_SETFD, FD_CLOEXEC)
                _ = fcntl(c, F_SETFL, fcntl(c, F_GETFL) & ~O_NONBLOCK)
                return c
            }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK, ECONNABORTED: return nil
            default: throw .system(call: "accept(\(path))", errno: errno)
            }
        }
    }

    /// Stops listening and removes the socket path (idempotent).
    public func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
        unlink(path)
    }

    private static func removeStaleSocket(at path: String) throws(VhostUserError) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard st.st_mode & S_IFMT == S_IFSOCK else { throw .socketPathOccupied(path) }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { throw .system(call: "socket(AF_UNIX)", errno: errno) }
        defer { Glibc.close(probe) }
        let rc = withAddress(path) { addr, len in connect(probe, addr, len) }
        if rc == 0 { throw .socketInUse(path) }
        guard unlink(path) == 0 || errno == ENOENT else { throw .system(call: "unlink(\(path))", errno: errno) }
    }

    /// Calls `body` with a `sockaddr_un` for `path` (length already checked by the caller).
    static func withAddress<R>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in bytes.prefix(p.count - 1).enumerated() { p[i] = b }
        }
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}
