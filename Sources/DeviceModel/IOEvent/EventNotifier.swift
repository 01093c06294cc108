import CDeviceModelShims
#if canImport(Glibc)
import Glibc
#endif

/// Errors from eventfd-based notifiers.
public enum EventNotifierError: Error, Equatable, CustomStringConvertible {
    /// `eventfd()` failed.
    case createFailed(errno: Int32)
    /// Writing the counter failed (other than EINTR/EAGAIN).
    case writeFailed(fd: Int32, errno: Int32)

    public var description: String {
        switch self {
        case .createFailed(let e): "eventfd() failed: errno \(e)"
        case .writeFailed(let fd, let e): "write to eventfd \(fd) failed: errno \(e)"
        }
    }
}

/// An owned Linux eventfd: a counter a writer increments and a reader drains.
///
/// Used for ioeventfds (guest notify → device), irqfds and vhost-user call fds
/// (device → guest), and cross-thread wake-ups. The fd is closed on deinit.
public final class EventNotifier: Sendable {
    /// The file descriptor; valid for the lifetime of this object.
    public let fd: Int32

    /// Creates a non-blocking, close-on-exec eventfd.
    public init() throws(EventNotifierError) {
        let fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard fd >= 0 else { throw .createFailed(errno: errno) }
        self.fd = fd
    }

    /// Takes ownership of an existing eventfd (e.g. one received over a UNIX socket).
    public init(adopting fd: Int32) { self.fd = fd }

    deinit { close(fd) }

    /// Adds 1 to the counter, waking any reader. `eventfd_write`.
    public func signal() throws(EventNotifierError) {
        var one: UInt64 = 1
        while true {
            let n = withUnsafeBytes(of: &one) { Glibc.write(fd, $0.baseAddress, 8) }
            if n == 8 { return }
            if n < 0 && errno == EINTR { continue }
            // EAGAIN means the counter is saturated: the reader is already woken.
            if n < 0 && errno == EAGAIN { return }
            throw .writeFailed(fd: fd, errno: errno)
        }
    }

    /// ``signal()`` for an eventfd whose open file another process shares (a vhost-user
    /// call or err descriptor): that process can clear `O_NONBLOCK` on it at any time and
    /// saturate the counter, and a blocking `write` would then hang the caller. A counter
    /// that cannot take another 1 (`poll` reports it not writable) already wakes its reader,
    /// so nothing is written. Only a peer that refills the counter between the `poll` and
    /// the `write` can still delay the write. `poll(2)`, `eventfd_write`.
    public func signalUnlessSaturated() throws(EventNotifierError) {
        var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        while true {
            let r = poll(&p, 1, 0)
            if r < 0 && errno == EINTR { continue }
            if r == 0 { return }
            break
        }
        try signal()
    }

    /// Reads and resets the counter; returns 0 if nothing was pending. `eventfd_read`.
    @discardableResult
    public func drain() -> UInt64 {
        var value: UInt64 = 0
        while true {
            let n = withUnsafeMutableBytes(of: &value) { Glibc.read(fd, $0.baseAddress, 8) }
            if n == 8 { return value }
            if n < 0 && errno == EINTR { continue }
            return 0
        }
    }

    /// Blocks until the notifier is signalled or `timeoutMs` passes (a negative timeout waits
    /// forever); drains and returns the count, or 0 on timeout.
    ///
    /// When another thread drains the counter between the wake-up and the read, waiting
    /// resumes for the rest of the timeout rather than returning early.
    public func wait(timeoutMs: Int32) -> UInt64 {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .milliseconds(max(timeoutMs, 0)))
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            var remaining: Int32 = -1
            if timeoutMs >= 0 {
                let left = clock.now.duration(to: deadline)
                // Round up so a sub-millisecond remainder still waits instead of spinning.
                let ms = left.components.seconds * 1000 + (left.components.attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
                remaining = Int32(clamping: max(ms, 0))
            }
            let r = poll(&p, 1, remaining)
            if r < 0 && errno == EINTR { continue }
            if r <= 0 || p.revents & Int16(POLLIN) == 0 { return 0 }
            let n = drain()
            if n > 0 { return n }
            if timeoutMs >= 0 && clock.now >= deadline { return 0 }
        }
    }
}
