#if canImport(Glibc)
import Glibc
#endif

/// A fresh, private directory for one run's images and sockets.
public enum ScratchDirectory {
    /// Creates `<prefix>XXXXXX` with a unique suffix (mode 0700) and returns its path. Keep the
    /// prefix short when sockets go inside: a UNIX socket path holds at most 107 bytes.
    /// Wraps `mkdtemp(3)`.
    public static func create(prefix: String = "/tmp/swiftdm-") throws -> String {
        var template = Array((prefix + "XXXXXX").utf8CString)
        let created = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let base = buffer.baseAddress, let p = mkdtemp(base) else { return nil }
            return String(cString: p)
        }
        guard let created else {
            throw GuestKitError.systemCallFailed(call: "mkdtemp", path: prefix + "XXXXXX", errno: errno)
        }
        return created
    }
}
