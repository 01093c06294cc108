import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Connects to a virtio-console backend's UNIX socket (`swiftdm vhost-user --console
/// socket=PATH`) and collects what the guest writes to its console.
final class ConsoleClient: Sendable {
    private final class Received: Sendable {
        let bytes = Mutex(Data())
    }

    private let fd: Int32
    private let received = Received()

    init(path: String) throws {
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw GuestKitError.systemCallFailed(call: "socket", path: path, errno: errno) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            close(s)
            throw GuestKitError.socketPathTooLong(path: path)
        }
        // SAFETY: the copy stays inside `sun_path` (checked above, NUL kept), and `connect`
        // reads the `sockaddr_un` only for the duration of the call.
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in bytes.prefix(p.count - 1).enumerated() { p[i] = b } }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let error = errno
            close(s)
            throw GuestKitError.systemCallFailed(call: "connect", path: path, errno: error)
        }
        fd = s
        let received = self.received
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = recv(s, &buffer, buffer.count, 0)
                if n <= 0 { if n < 0 && errno == EINTR { continue }; break }
                received.bytes.withLock { $0.append(contentsOf: buffer[0..<n]) }
            }
            // The reader owns the descriptor's lifetime: deinit only shuts the socket down.
            close(s)
        }
    }

    deinit { shutdown(fd, Int32(SHUT_RDWR)) }

    /// What arrived so far, waiting (bounded) until it contains `marker`.
    func read(until marker: String, timeout: Duration) -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            let text = String(decoding: received.bytes.withLock { $0 }, as: UTF8.self)
            if text.contains(marker) || ContinuousClock.now >= deadline { return text }
            usleep(50_000)
        }
    }

    /// Sends `text` to the guest's console.
    func write(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
}
