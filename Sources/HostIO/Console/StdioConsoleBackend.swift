import CDeviceModelShims
import DeviceModel
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The launcher's standard input and output.
///
/// Terminals and pipes are reopened through `/proc/self/fd` so that the non-blocking mode
/// the device needs applies to a private open file description, not to the one the shell
/// shares (setting `O_NONBLOCK` on an inherited tty breaks the shell after exit). With
/// `rawMode` a terminal on stdin is switched to raw mode (no echo, no line editing, no
/// signals from ^C) until ``stop()``.
public final class StdioConsoleBackend: ConsoleBackend {
    private struct State {
        var input: Int32 = -1
        var output: Int32 = -1
        var savedTerminal: termios?
        var stopped = false
    }
    private let state = Mutex(State())
    /// Whether a terminal on stdin is switched to raw mode while the backend runs.
    public let rawMode: Bool

    /// A backend on the process's stdin and stdout, in raw mode when `rawMode`.
    public init(rawMode: Bool = false) { self.rawMode = rawMode }

    deinit { stop() }

    public func start(on loop: EventLoop, connected: @escaping @Sendable (ConsoleStream) -> Void) throws(ConsoleBackendError) {
        let input = try Self.privateDescriptor(for: STDIN_FILENO, flags: O_RDONLY)
        let output: Int32
        do { output = try Self.privateDescriptor(for: STDOUT_FILENO, flags: O_WRONLY) } catch {
            close(input)
            throw error
        }
        var saved: termios?
        if rawMode && isatty(STDIN_FILENO) == 1 {
            var t = termios()
            if tcgetattr(STDIN_FILENO, &t) == 0 {
                saved = t
                cfmakeraw(&t)
                _ = tcsetattr(STDIN_FILENO, TCSANOW, &t)
            }
        }
        state.withLock {
            $0.input = input
            $0.output = output
            $0.savedTerminal = saved
        }
        connected(ConsoleStream(input: input, output: output))
    }

    /// A descriptor for `fd` whose file status flags are ours alone.
    private static func privateDescriptor(for fd: Int32, flags: Int32) throws(ConsoleBackendError) -> Int32 {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .systemCall(what: "fstat of stdio descriptor \(fd)", errno: errno) }
        let kind = st.st_mode & S_IFMT
        if kind == S_IFCHR || kind == S_IFIFO {
            let reopened = swiftdm_open("/proc/self/fd/\(fd)", flags | O_CLOEXEC | O_NOCTTY, 0)
            if reopened >= 0 { return reopened }
        }
        // Regular files never block; sockets are private enough. dup keeps the offset.
        let copy = dup(fd)
        guard copy >= 0 else { throw .systemCall(what: "dup of stdio descriptor \(fd)", errno: errno) }
        return copy
    }

    public func disconnected(_ stream: ConsoleStream) {}

    public func stop() {
        let s = state.withLock { s -> State in
            let old = s
            s.stopped = true
            s.input = -1
            s.output = -1
            s.savedTerminal = nil
            return old
        }
        guard !s.stopped else { return }
        if var t = s.savedTerminal { _ = tcsetattr(STDIN_FILENO, TCSANOW, &t) }
        if s.input >= 0 { close(s.input) }
        if s.output >= 0 { close(s.output) }
    }
}
