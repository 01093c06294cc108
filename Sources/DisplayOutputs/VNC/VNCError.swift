/// Why the VNC server could not be configured or started.
public enum VNCError: Error, Equatable, CustomStringConvertible {
    /// A `-vnc` argument the parser does not understand.
    case invalidListenAddress(String, reason: String)
    /// The UNIX socket path is longer than `sockaddr_un` holds.
    case socketPathTooLong(String, maximum: Int)
    /// Something other than a socket sits at the UNIX socket path.
    case socketPathOccupied(String)
    /// Another server accepts connections on the UNIX socket path.
    case socketInUse(String)
    /// The host name did not resolve.
    case hostNotFound(String, reason: String)
    /// A system call failed.
    case system(call: String, errno: Int32)
    /// ``VNCServer/start()`` was called on a server that already runs (or ran).
    case alreadyStarted
    /// ``VNCFrameCapture`` could not take its picture (the reason names what the server did).
    case captureFailed(String)

    public var description: String {
        switch self {
        case .invalidListenAddress(let a, let r): "invalid VNC address '\(a)': \(r)"
        case .socketPathTooLong(let p, let m): "VNC socket path '\(p)' is longer than \(m) bytes"
        case .socketPathOccupied(let p): "VNC socket path '\(p)' exists and is not a socket"
        case .socketInUse(let p): "VNC socket '\(p)' is in use by another server"
        case .hostNotFound(let h, let r): "VNC host '\(h)' does not resolve: \(r)"
        case .system(let c, let e): "\(c) failed: errno \(e)"
        case .alreadyStarted: "the VNC server was started already"
        case .captureFailed(let r): "VNC capture: \(r)"
        }
    }
}
