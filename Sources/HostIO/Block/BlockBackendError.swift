/// Why a ``BlockBackend`` could not open its image or complete a transfer. Each case carries
/// the path, operation, offset and `errno` involved.
public enum BlockBackendError: Error, Equatable, CustomStringConvertible {
    /// The image could not be opened.
    case open(path: String, errno: Int32)
    /// The image is not a regular file or block device.
    case unsupportedImage(path: String)
    /// Another process holds a conflicting lock on the image.
    case imageLocked(path: String)
    /// A host I/O call failed.
    case io(operation: String, offset: UInt64, errno: Int32)
    /// io_uring cannot be used here (old kernel, seccomp, a container that forbids it).
    case ioUringUnavailable(operation: String, errno: Int32)
    /// The image cannot take the size asked for (a block device, a read-only image, a host
    /// that refused `ftruncate`).
    case resize(path: String, bytes: UInt64, reason: String)

    public var description: String {
        switch self {
        case .open(let p, let e): "cannot open image \(p): errno \(e)"
        case .unsupportedImage(let p): "image \(p) is neither a regular file nor a block device"
        case .imageLocked(let p): "image \(p) is locked by another process"
        case .io(let op, let off, let e): "\(op) at offset \(off) failed: errno \(e)"
        case .ioUringUnavailable(let op, let e): "\(op) failed: errno \(e)"
        case .resize(let p, let n, let why): "cannot resize image \(p) to \(n) bytes: \(why)"
        }
    }
}
