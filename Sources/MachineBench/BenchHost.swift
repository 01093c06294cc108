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

    /// Whether `/dev/kvm` is PVM (`/sys/module/kvm_pvm`): guest instructions emulated, exits dear.
    static var kvmIsPVM: Bool { access("/sys/module/kvm_pvm", F_OK) == 0 }

    /// Writes `bytes` to a new file at `path` (replacing one there). `open(2)`, `write(2)`.
    static func write(_ bytes: [UInt8], to path: String) throws(MachineBenchError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .system(call: "open \(path)", errno: errno) }
        defer { close(fd) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress.map { $0 + done }, bytes.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw .system(call: "write \(path)", errno: errno) }
            done += n
        }
    }
}
