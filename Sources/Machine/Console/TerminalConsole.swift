import CDeviceModelShims
import DeviceModel
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The terminal side of a guest's serial console: guest output to stdout, stdin to the guest.
///
/// When stdin is a terminal it is switched to raw mode (no echo, no line buffering, but signals
/// still work so Ctrl-C stops the VM) and restored by ``restore()``.
public final class TerminalConsole: Sendable {
    private let savedTerminal: Mutex<termios?>
    private let watch = Mutex<(source: EventSource, fd: Int32)?>(nil)

    /// Puts stdin into raw mode when it is a terminal.
    public init() {
        var saved: termios?
        if isatty(STDIN_FILENO) == 1 {
            var t = termios()
            if tcgetattr(STDIN_FILENO, &t) == 0 {
                saved = t
                var raw = t
                raw.c_iflag &= ~tcflag_t(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON)
                raw.c_oflag |= tcflag_t(OPOST | ONLCR)
                raw.c_lflag &= ~tcflag_t(ECHO | ECHONL | ICANON | IEXTEN)
                raw.c_cflag &= ~tcflag_t(CSIZE | PARENB)
                raw.c_cflag |= tcflag_t(CS8)
                tcsetattr(STDIN_FILENO, TCSANOW, &raw)
            }
        }
        savedTerminal = Mutex(saved)
    }

    /// Writes guest output to stdout, unbuffered (the guest pays an exit per byte anyway).
    @Sendable public static func write(_ byte: UInt8) {
        var b = byte
        while Glibc.write(STDOUT_FILENO, &b, 1) < 0 && errno == EINTR {}
    }

    /// Starts forwarding stdin to `deliver`, which takes as many bytes as the guest device has
    /// room for and returns how many it took (the rest are dropped, as a UART drops overruns).
    ///
    /// stdin is reopened through `/proc/self/fd/0` so that its non-blocking mode belongs to a
    /// private open file description, never to the one the shell shares.
    public func forwardInput(on loop: EventLoop, to deliver: @escaping @Sendable ([UInt8]) -> Int) {
        let fd = swiftdm_open("/proc/self/fd/0", O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0)
        guard fd >= 0 else { return }  // no readable stdin: the guest gets no input
        let source = loop.watch(fd: fd, for: [.readable, .hangup]) { [weak self] _ in
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                _ = deliver(Array(buffer.prefix(n)))
            } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
                // End of input: stop watching, the guest keeps running.
                self?.stopInput()
            }
        }
        watch.withLock { $0 = (source, fd) }
    }

    private func stopInput() {
        watch.withLock { w in
            guard let (source, fd) = w else { return }
            source.cancel()
            close(fd)
            w = nil
        }
    }

    /// Stops forwarding and puts the terminal back as it was.
    public func restore() {
        stopInput()
        savedTerminal.withLock { saved in
            if var t = saved { tcsetattr(STDIN_FILENO, TCSANOW, &t) }
            saved = nil
        }
    }
}
