/// Why a ``ConsoleBackend`` could not be set up or started. Each case carries the value or
/// the system call and `errno` that failed.
public enum ConsoleBackendError: Error, Equatable, CustomStringConvertible {
    /// A UNIX socket path that does not fit `sockaddr_un` (`maximumBytes` is its limit).
    case invalidSocketPath(String, maximumBytes: Int)
    /// A system call failed; `what` names it and its argument.
    case systemCall(what: String, errno: Int32)

    public var description: String {
        switch self {
        case .invalidSocketPath(let p, let max): "console socket path \"\(p)\" must be 1...\(max) bytes"
        case .systemCall(let w, let e): "console backend: \(w) failed: errno \(e)"
        }
    }
}
