import CDeviceModelShims
import DeviceModel
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A new pseudo-terminal; connect with `screen`/`minicom`/`picocom` to ``path``.
///
/// While nothing has the slave side open the master reports hang-up; the backend then
/// looks again every ``reconnectInterval`` (as QEMU's pty chardev does) and connects when
/// a program opens the slave. Guest output meanwhile is discarded, not queued.
public final class PseudoTerminalConsoleBackend: ConsoleBackend {
    /// The slave device to open, e.g. `/dev/pts/3`.
    public let path: String
    /// How often to look for a program on the slave side while none is there.
    public let reconnectInterval: Duration
    private let master: Int32
    private struct State {
        var loop: EventLoop?
        var connected: (@Sendable (ConsoleStream) -> Void)?
        var timer: EventSource?
        var stream: ConsoleStream?
        var stopped = false
    }
    private let state = Mutex(State())

    /// `TIOCSPTLCK` / `TIOCGPTN` from <asm-generic/ioctls.h>.
    private static let setPtyLock: UInt = 0x4004_5431
    private static let getPtyNumber: UInt = 0x8004_5430

    /// Opens `/dev/ptmx`, unlocks the slave and puts the line in raw mode.
    public init(reconnectInterval: Duration = .milliseconds(250)) throws(ConsoleBackendError) {
        let fd = swiftdm_open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK, 0)
        guard fd >= 0 else { throw .systemCall(what: "open /dev/ptmx", errno: errno) }
        var unlock: Int32 = 0
        var number: UInt32 = 0
        guard swiftdm_ioctl_ptr(fd, Self.setPtyLock, &unlock) == 0,
              swiftdm_ioctl_ptr(fd, Self.getPtyNumber, &number) == 0 else {
            let e = errno
            close(fd)
            throw .systemCall(what: "unlock pty", errno: e)
        }
        var t = termios()
        if tcgetattr(fd, &t) == 0 {
            cfmakeraw(&t)
            _ = tcsetattr(fd, TCSANOW, &t)
        }
        master = fd
        path = "/dev/pts/\(number)"
        self.reconnectInterval = reconnectInterval
    }

    deinit {
        stop()
        close(master)
    }

    public func start(on loop: EventLoop, connected: @escaping @Sendable (ConsoleStream) -> Void) throws(ConsoleBackendError) {
        state.withLock {
            $0.loop = loop
            $0.connected = connected
        }
        checkForPeer()
    }

    /// Connects if the slave is open (no `POLLHUP` on the master), else polls again later.
    private func checkForPeer() {
        var p = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
        let hungUp = poll(&p, 1, 0) >= 0 && p.revents & Int16(POLLHUP) != 0
        let action = state.withLock { s -> (@Sendable (ConsoleStream) -> Void, ConsoleStream)? in
            guard !s.stopped, s.stream == nil, let loop = s.loop else { return nil }
            if hungUp {
                if s.timer == nil {
                    s.timer = loop.schedule(after: reconnectInterval) { [weak self] in
                        self?.state.withLock { $0.timer = nil }
                        self?.checkForPeer()
                        return false
                    }
                }
                return nil
            }
            let stream = ConsoleStream(input: master, output: master)
            s.stream = stream
            return s.connected.map { ($0, stream) }
        }
        if let (connected, stream) = action { connected(stream) }
    }

    public func disconnected(_ stream: ConsoleStream) {
        state.withLock { if $0.stream === stream { $0.stream = nil } }
        checkForPeer()
    }

    public func stop() {
        let timer = state.withLock { s -> EventSource? in
            s.stopped = true
            s.connected = nil
            let t = s.timer
            s.timer = nil
            return t
        }
        timer?.cancel()
    }
}
