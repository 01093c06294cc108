#if canImport(Glibc)
import Glibc
#endif

/// A file descriptor that arrived with a message (`SCM_RIGHTS`). It is closed when this
/// object goes away unless a handler took ownership with ``take()`` — so descriptors of
/// rejected or unexpected messages never leak.
public final class ReceivedDescriptor {
    private var fd: Int32

    init(_ fd: Int32) { self.fd = fd }

    /// The descriptor, still owned by this object.
    public var raw: Int32 { fd }

    /// Transfers ownership to the caller.
    public func take() -> Int32 {
        let f = fd
        fd = -1
        return f
    }

    deinit {
        // close() is never retried (EINTR leaves the descriptor closed on Linux).
        if fd >= 0 { close(fd) }
    }
}

/// One message as read from the socket.
public struct VhostUserMessage {
    public var header: VhostUserHeader
    public var payload: [UInt8]
    public var descriptors: [ReceivedDescriptor]

    public var requestName: String { VhostUserRequest.name(of: header.request) }
}
