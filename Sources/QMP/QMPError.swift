/// A QMP command's failure, sent as `{"error": {"class": …, "desc": …}}`.
public struct QMPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// QEMU's error classes (`qapi/error.json`).
    public enum Class: String, Sendable {
        case genericError = "GenericError"
        case commandNotFound = "CommandNotFound"
        case deviceNotActive = "DeviceNotActive"
        case deviceNotFound = "DeviceNotFound"
    }

    public let errorClass: Class
    public let desc: String

    public init(_ errorClass: Class = .genericError, _ desc: String) {
        self.errorClass = errorClass
        self.desc = desc
    }

    /// An argument missing or of the wrong type.
    public static func badArgument(_ name: String, expected: String) -> QMPError {
        QMPError(.genericError, "Parameter '\(name)' expects \(expected)")
    }

    public var description: String { "\(errorClass.rawValue): \(desc)" }
}

/// Why a QMP server could not start.
public enum QMPServerError: Error, Sendable, Equatable, CustomStringConvertible {
    case socketPathTooLong(String)
    case socketFailed(path: String, function: String, errno: Int32)
    case eventLoop(String)

    public var description: String {
        switch self {
        case .socketPathTooLong(let p): "QMP socket path too long for a UNIX socket (\(p.utf8.count) bytes, at most 107): \(p)"
        case .socketFailed(let p, let f, let e): "QMP socket \(p): \(f) failed: \(String(cString: strerror(e)))"
        case .eventLoop(let why): "QMP event loop: \(why)"
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
