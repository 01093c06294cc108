import Foundation
import GuestKit
#if canImport(Glibc)
import Glibc
#endif

/// What the machine scenarios need from the host, checked once per run.
enum BenchHost {
    /// Why KVM cannot be used here, or `nil` when `/dev/kvm` opens read-write.
    /// `open(2)`.
    static var kvmUnusableReason: String? {
        let fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            return e == ENOENT ? "no /dev/kvm on this host" : "cannot open /dev/kvm: \(String(cString: strerror(e)))"
        }
        close(fd)
        return nil
    }

    /// Writes `bytes` to a new file at `path` (replacing one there).
    static func write(_ bytes: [UInt8], to path: String) throws(MachineBenchError) {
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw .system(call: "create \(path)", errno: errno)
        }
    }
}
