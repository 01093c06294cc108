#if canImport(Glibc)
import Glibc
#endif

/// A connected console peer: non-blocking descriptors the device reads the guest's input
/// from and writes its output to. The backend that produced it owns the descriptors.
public final class ConsoleStream: Sendable {
    /// The descriptor the peer's bytes arrive on.
    public let input: Int32
    /// The descriptor bytes for the peer go to (possibly ``input``).
    public let output: Int32
    private let outputIsSocket: Bool

    /// Wraps `input`/`output` (possibly the same descriptor) and makes them non-blocking.
    public init(input: Int32, output: Int32) {
        self.input = input
        self.output = output
        var st = stat()
        outputIsSocket = fstat(output, &st) == 0 && st.st_mode & S_IFMT == S_IFSOCK
        for fd in Set([input, output]) { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    }

    /// One descriptor for both directions (a socket, a pty): its end of file means the peer
    /// left. With separate descriptors (stdio, pipes), input ending leaves output usable.
    public var isDuplex: Bool { input == output }

    /// The outcome of one non-blocking transfer.
    public enum Transfer: Equatable, Sendable {
        /// This many bytes moved (zero only for an empty write).
        case transferred(Int)
        /// Nothing can move now; wait for the descriptor to poll ready.
        case wouldBlock
        /// End of file, hang-up or a hard error (with its errno): the peer is gone.
        case closed(errno: Int32?)
    }

    /// Linux's `UIO_MAXIOV`.
    private static let maxIOVecs = 1024

    /// Reads what is pending into `buffers`, retrying `EINTR`. `readv(2)`.
    public func read(into buffers: [UnsafeMutableRawBufferPointer]) -> Transfer {
        var iov = buffers.prefix(Self.maxIOVecs).map { iovec(iov_base: $0.baseAddress, iov_len: $0.count) }
        while true {
            let n = iov.withUnsafeMutableBufferPointer { readv(input, $0.baseAddress, Int32($0.count)) }
            if n > 0 { return .transferred(n) }
            if n == 0 { return .closed(errno: nil) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            case let e: return .closed(errno: e)
            }
        }
    }

    /// `writev(2)` of `buffers`, or `sendmsg(2)` with `MSG_NOSIGNAL` on sockets so a
    /// vanished client is an error, not a `SIGPIPE` for the whole process.
    public func write(_ buffers: [UnsafeRawBufferPointer]) -> Transfer {
        var iov = buffers.prefix(Self.maxIOVecs).map { iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count) }
        while true {
            let n = iov.withUnsafeMutableBufferPointer { p -> Int in
                if outputIsSocket {
                    var msg = msghdr()
                    msg.msg_iov = p.baseAddress
                    msg.msg_iovlen = p.count
                    return sendmsg(output, &msg, Int32(MSG_NOSIGNAL))
                }
                return writev(output, p.baseAddress, Int32(p.count))
            }
            if n >= 0 { return .transferred(n) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            case let e: return .closed(errno: e)
            }
        }
    }
}
