import DeviceModel
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A listening UNIX stream socket serving one client at a time (`socat -,raw UNIX:PATH`).
/// While a client is connected the listener is not watched, so further clients wait in
/// the listen backlog; when the client leaves, the next one is accepted. The socket file
/// is removed on ``stop()``.
public final class UnixSocketConsoleBackend: ConsoleBackend {
    /// The socket file clients connect to.
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
    public init(path: String) throws(ConsoleBackendError) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else { throw .invalidSocketPath(path, maximumBytes: capacity - 1) }
        withUnsafeMutableBytes(of: &address.sun_path) { p in
            for (i, b) in bytes.enumerated() { p[i] = b }
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw .systemCall(what: "socket(AF_UNIX)", errno: errno) }
        // Only ever remove a socket file: never clobber a regular file by mistake.
        var st = stat()
        if lstat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFSOCK { unlink(path) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(fd, 1) == 0 else {
            let e = errno
            close(fd)
            throw .systemCall(what: "bind/listen \(path)", errno: e)
        }
        self.path = path
        self.listener = fd
    }

    deinit {
        stop()
        close(listener)
    }

    public func start(on loop: EventLoop, connected: @escaping @Sendable (ConsoleStream) -> Void) throws(ConsoleBackendError) {
        state.withLock {
            $0.loop = loop
            $0.connected = connected
        }
        listenForClient()
    }

    /// Watches the listener (only while no client is connected: a level-triggered watch on
    /// a backlog we do not accept from would spin).
    private func listenForClient() {
        state.withLock { s in
            guard !s.stopped, s.client < 0, s.acceptWatch == nil, let loop = s.loop else { return }
            s.acceptWatch = loop.watch(fd: listener, for: .readable) { [weak self] _ in self?.acceptClient() }
        }
    }

    /// `accept(2)`: the client becomes the stream and the listener is no longer watched.
    private func acceptClient() {
        var fd: Int32
        repeat { fd = accept(listener, nil, nil) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { return }   // EAGAIN: the client gave up; keep watching
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        let action = state.withLock { s -> (@Sendable (ConsoleStream) -> Void, ConsoleStream, EventSource?)? in
            guard !s.stopped, s.client < 0, let connected = s.connected else { return nil }
            s.client = fd
            let stream = ConsoleStream(input: fd, output: fd)
            s.stream = stream
            let watch = s.acceptWatch
            s.acceptWatch = nil
            return (connected, stream, watch)
        }
        guard let (connected, stream, watch) = action else {
            close(fd)
            return
        }
        watch?.cancel()
        connected(stream)
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
        // A client waiting in the backlog makes the listener readable at once.
        listenForClient()
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
