import DeviceModel
import Dispatch
import FuzzSupport
import CDeviceModelShims
import Logging
import VhostUser
import VirtioDevices
#if canImport(Glibc)
import Glibc
#endif

/// The vhost-user backend reading a hostile frontend's byte stream (headers, payloads,
/// memory tables, ring set-up, with an eventfd and a small memfd passed along), served to a
/// virtio-rng device exactly as `swiftdm vhost-user --rng` serves it.
///
/// Invariants beyond "no crash": once the frontend closes its end, the backend ends the
/// session within two seconds (no input can wedge the connection thread); every byte it
/// sent back is a sequence of well-formed replies (version 1, reply flag, payload at most
/// 4096 bytes); and the backend then serves the next frontend.
@main
struct VhostUserMessagesFuzz {
    static func main() {
        var logger = Logger(label: "fuzz.vhost-user")
        logger.logLevel = .critical
        let ended = DispatchSemaphore(value: 0)
        guard let device = try? VirtioEntropyDevice(),
              let backend = try? VhostUserBackend(device: device, logger: logger, onSessionEnd: { _ in ended.signal() }) else {
            fuzzFailure("cannot start the backend")
        }
        let memfd = swiftdm_memfd("fuzz-ram")
        invariant(memfd >= 0 && ftruncate(memfd, 1 << 20) == 0)
        FuzzDriver.run { data in
            var sv: [Int32] = [-1, -1]
            invariant(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &sv) == 0)
            let frontend = sv[0]
            backend.serve(connectedSocket: sv[1])
            var input = FuzzInput(data)
            let passFDs = input.u8() % 3
            let stream = input.rest()
            let kick = try? EventNotifier()
            var fds: [Int32] = []
            if passFDs >= 1, let kick { fds.append(kick.fd) }
            if passFDs >= 2 { fds.append(memfd) }
            _ = fcntl(frontend, F_SETFL, fcntl(frontend, F_GETFL) | O_NONBLOCK)
            var replies: [UInt8] = []
            var sent = 0
            var closedWrite = false
            let deadline = ContinuousClock.now.advanced(by: .seconds(2))
            while true {
                if sent < stream.count {
                    let n = stream.withUnsafeBytes { p in sendWithDescriptors(frontend, p.baseAddress! + sent, p.count - sent, sent == 0 ? fds : []) }
                    if n > 0 { sent += n }
                } else if !closedWrite {
                    shutdown(frontend, Int32(SHUT_WR))
                    closedWrite = true
                }
                var buffer = [UInt8](repeating: 0, count: 4096)
                let n = recv(frontend, &buffer, buffer.count, 0)
                if n > 0 { replies += buffer[0..<n]; continue }
                if n == 0 { break }
                if errno == ECONNRESET || errno == EPIPE { break }
                invariant(ContinuousClock.now < deadline, "the backend did not end the session within 2 s")
                var p = pollfd(fd: frontend, events: Int16(POLLIN) | (sent < stream.count ? Int16(POLLOUT) : 0), revents: 0)
                _ = poll(&p, 1, 10)
            }
            close(frontend)
            invariant(ended.wait(timeout: .now() + 2) == .success, "session end not reported")
            // Replies are well formed.
            var offset = 0
            while offset < replies.count {
                invariant(replies.count - offset >= 12, "truncated reply header")
                let flags = UInt32(replies[offset + 4]) | UInt32(replies[offset + 5]) << 8
                let size = Int(replies[offset + 8]) | Int(replies[offset + 9]) << 8 | Int(replies[offset + 10]) << 16
                    | Int(replies[offset + 11]) << 24
                invariant(flags & 0x3 == 1 && flags & 0x4 != 0, "reply without version 1 and the reply flag")
                invariant(size <= 4096 && offset + 12 + size <= replies.count, "reply payload out of bounds")
                offset += 12 + size
            }
        }
    }

    /// `sendmsg` with `SCM_RIGHTS` for `fds` (none: plain send).
    static func sendWithDescriptors(_ socket: Int32, _ bytes: UnsafeRawPointer, _ count: Int, _ fds: [Int32]) -> Int {
        let controlSize = fds.isEmpty ? 0 : 16 + ((4 * fds.count + 7) & ~7)
        let control = UnsafeMutableRawPointer.allocate(byteCount: max(controlSize, 8), alignment: 8)
        defer { control.deallocate() }
        if !fds.isEmpty {
            control.initializeMemory(as: UInt8.self, repeating: 0, count: controlSize)
            control.storeBytes(of: 16 + 4 * fds.count, as: Int.self)
            control.storeBytes(of: SOL_SOCKET, toByteOffset: 8, as: Int32.self)
            control.storeBytes(of: Int32(SCM_RIGHTS), toByteOffset: 12, as: Int32.self)
            for (i, f) in fds.enumerated() { control.storeBytes(of: f, toByteOffset: 16 + 4 * i, as: Int32.self) }
        }
        var iov = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes), iov_len: count)
        return withUnsafeMutablePointer(to: &iov) { iovp in
            var msg = msghdr()
            msg.msg_iov = iovp
            msg.msg_iovlen = 1
            if controlSize > 0 {
                msg.msg_control = control
                msg.msg_controllen = controlSize
            }
            return sendmsg(socket, &msg, Int32(MSG_NOSIGNAL))
        }
    }
}
