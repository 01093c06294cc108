import DeviceModel
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A listening UNIX stream socket serving one client at a time (`socat -,raw UNIX:PATH`).
/// Further clients are turned away while one is connected; when it leaves, the next is
/// accepted. The socket file is removed on ``stop()``.
public final class UnixSocketConsoleBackend: ConsoleBackend {
    public let path: String
    private let listener: Int32
    private struct State {
        var loop: EventLoop?
        var connected: (@Sendable (ConsoleStream) -> Void)?
        var acceptWatch: EventSource?
        var client: Int32 = -1
        var stream: ConsoleStream?
        var stopped = false
    }
    private let state = Mutex(State())

    /// Creates, binds and listens on `path` (replacing a stale socket file there).
    public init(path: String) throws(VirtioConsoleError) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else { throw .invalidConfiguration("socket path \"\(path)\" must be 1...\(capacity - 1) bytes") }
        withUnsafeMutableBytes(of: &address.sun_path) { p in
            for (i, b) in bytes.enumerated() { p[i] = b }
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw .backend(what: "socket(AF_UNIX)", errno: errno) }
        // Only ever remove a socket file: never clobber a regular file by mistake.
        var st = stat()
        if lstat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFSOCK { unlink(path) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(fd, 1) == 0 else {
            let e = errno
            close(fd)
            throw .backend(what: "bind/listen \(path)", errno: e)
        }
        self.path = path
        self.listener = fd
    }

    deinit {
        stop()
        close(listener)
    }

    public func start(on loop: EventLoop, connected: @escaping @Sendable (ConsoleStream) -> Void) throws(VirtioConsoleError) {
        let watch = loop.watch(fd: listener, for: .readable) { [weak self] _ in self?.acceptClient() }
        state.withLock {
            $0.loop = loop
            $0.connected = connected
            $0.acceptWatch = watch
        }
    }

    /// `accept(2)`: the first client becomes the stream; others are closed at once.
    private func acceptClient() {
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                if errno == EINTR { continue }
                return   // EAGAIN: nothing pending (or a transient error; the watch retries)
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            let action = state.withLock { s -> (@Sendable (ConsoleStream) -> Void, ConsoleStream)? in
                guard !s.stopped, s.client < 0, let connected = s.connected else { return nil }
                s.client = fd
                let stream = ConsoleStream(input: fd, output: fd)
                s.stream = stream
                return (connected, stream)
            }
            guard let (connected, stream) = action else {
                close(fd)
                continue
            }
            connected(stream)
        }
    }

    public func disconnected(_ stream: ConsoleStream) {
        let fd = state.withLock { s -> Int32 in
            guard s.stream === stream else { return -1 }
            let fd = s.client
            s.client = -1
            s.stream = nil
            return fd
        }
        if fd >= 0 { close(fd) }
        // A client may already be waiting in the backlog.
        acceptClient()
    }

    public func stop() {
        let s = state.withLock { s -> State in
            let old = s
            s.stopped = true
            s.client = -1
            s.stream = nil
            s.acceptWatch = nil
            s.connected = nil
            return old
        }
        guard !s.stopped else { return }
        s.acceptWatch?.cancel()
        if s.client >= 0 { close(s.client) }
        unlink(path)
    }
}
