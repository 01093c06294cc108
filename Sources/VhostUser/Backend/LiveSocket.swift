import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The connected frontend's socket descriptor, shared between the connection thread (which
/// owns and closes it) and whoever shuts the backend down from another thread.
///
/// `cut()` calls `shutdown(2)` under the same lock the connection thread takes to forget
/// the descriptor before closing it, so it can never reach a descriptor number that was
/// closed and reused.
final class LiveSocket: Sendable {
    private let fd = Mutex<Int32?>(nil)

    /// Records the current connection's socket (`nil` before it is closed).
    func set(_ socket: Int32?) { fd.withLock { $0 = socket } }

    /// Shuts the connection down both ways: blocked reads return EOF, blocked writes EPIPE.
    /// `shutdown(2)`.
    func cut() {
        fd.withLock { socket in
            if let socket { _ = Glibc.shutdown(socket, Int32(SHUT_RDWR)) }
        }
    }
}
