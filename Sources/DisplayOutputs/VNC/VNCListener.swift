import CDeviceModelShims
import Glibc

/// The server's listening socket: a UNIX stream socket at a path, or TCP on a host's
/// address. Non-blocking, so a connection that vanishes between poll and accept costs nothing.
final class VNCListener {
    let fd: Int32
    private let unixPath: String?
    private var closed = false

    init(_ listen: VNCConfiguration.Listen) throws(VNCError) {
        switch listen {
        case .unix(let path):
            fd = try Self.bindUnix(path)
            unixPath = path
        case .tcp(let host, let display):
            guard (0...VNCConfiguration.maximumDisplay).contains(display) else {
                throw .invalidListenAddress("\(host):\(display)", reason: "display outside 0...\(VNCConfiguration.maximumDisplay)")
            }
            fd = try Self.bindTCP(host: host, port: 5900 + display)
            unixPath = nil
        }
    }

    deinit { close() }

    /// Accepts one pending connection, non-blocking and close-on-exec from the start; nil when
    /// none is pending. Throws when one is pending but cannot be taken (out of descriptors or
    /// memory, or refused by `--seccomp`): the caller stops listening for a while rather than
    /// spin on a socket that stays readable. `accept4(2)` (the call the sandbox allows).
    func accept() throws(VNCError) -> Int32? {
        while true {
            let c = swiftdm_accept4(fd, Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue))
            if c >= 0 { return c }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK, ECONNABORTED, EPROTO: return nil
            default: throw .system(call: "accept4", errno: errno)
            }
        }
    }

    /// Stops listening and removes a UNIX socket's path (idempotent).
    func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
        if let unixPath { unlink(unixPath) }
    }

    private static func bindUnix(_ path: String) throws(VNCError) -> Int32 {
        let address = try UnixSocketAddress(path)
        // A socket left by a process that died is replaced; a live one or another file is not.
        var st = stat()
        if lstat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFSOCK else { throw .socketPathOccupied(path) }
            let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard probe >= 0 else { throw .system(call: "socket(AF_UNIX)", errno: errno) }
            let live = address.connect(probe) == 0
            Glibc.close(probe)
            if live { throw .socketInUse(path) }
            guard unlink(path) == 0 || errno == ENOENT else { throw .system(call: "unlink(\(path))", errno: errno) }
        }
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard s >= 0 else { throw .system(call: "socket(AF_UNIX)", errno: errno) }
        guard address.bind(s) == 0 else {
            let e = errno
            Glibc.close(s)
            throw .system(call: "bind(\(path))", errno: e)
        }
        guard listen(s, 16) == 0 else {
            let e = errno
            Glibc.close(s)
            unlink(path)
            throw .system(call: "listen(\(path))", errno: e)
        }
        return s
    }

    private static func bindTCP(host: String, port: Int) throws(VNCError) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw .hostNotFound(host, reason: String(cString: gai_strerror(rc)))
        }
        defer { freeaddrinfo(list) }
        var lastError = VNCError.hostNotFound(host, reason: "no usable address")
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let ai = entry {
            entry = ai.pointee.ai_next
            let s = socket(ai.pointee.ai_family, ai.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue),
                           ai.pointee.ai_protocol)
            guard s >= 0 else {
                lastError = .system(call: "socket", errno: errno)
                continue
            }
            var on: Int32 = 1
            _ = setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
            guard bind(s, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 else {
                lastError = .system(call: "bind(\(host):\(port))", errno: errno)
                Glibc.close(s)
                continue
            }
            guard listen(s, 16) == 0 else {
                lastError = .system(call: "listen(\(host):\(port))", errno: errno)
                Glibc.close(s)
                continue
            }
            return s
        }
        throw lastError
    }
}
