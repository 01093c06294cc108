#if canImport(Glibc)
import Glibc
#endif

/// One connected vhost-user stream socket: reads whole messages (header, payload, and the
/// descriptors passed with them) and writes replies. Owns the socket and closes it.
///
/// Reads follow the protocol's framing exactly — 12 header bytes (with any `SCM_RIGHTS`
/// descriptors, which travel with a message's first byte), then `size` payload bytes — so
/// descriptors are always attributed to the message they came with. Receive and send
/// timeouts bound how long a frontend that stops mid-message can hold the backend.
public final class VhostUserChannel {
    /// The most descriptors one message may carry (vhost-user.rst: "at most 8").
    public static let maxDescriptors = 8
    /// No request this backend understands has a larger payload; larger ones cannot be
    /// skipped safely and end the connection.
    public static let maxPayload = 4096
    /// How long a message may take to arrive in full, from its first byte.
    public static let messageDeadlineSeconds = 5

    public let fd: Int32
    private var closed = false
    private let timeoutSeconds: Int

    /// Takes ownership of a connected `AF_UNIX` stream socket. `timeoutSeconds` bounds each
    /// blocking read of a message that has started arriving and each reply write.
    public init(adopting fd: Int32, timeoutSeconds: Int = messageDeadlineSeconds) {
        self.fd = fd
        self.timeoutSeconds = timeoutSeconds
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close() }

    /// Closes the socket (idempotent).
    public func close() {
        guard !closed else { return }
        closed = true
        _ = Glibc.close(fd)
    }

    /// True when at least one byte (the start of another message, or EOF) is waiting.
    public var hasPendingInput: Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            let r = poll(&p, 1, 0)
            if r < 0 && errno == EINTR { continue }
            return r > 0
        }
    }

    /// Reads the next message; `nil` when the frontend closed the connection between messages.
    ///
    /// The whole message must arrive within `timeoutSeconds` of its first byte: a frontend
    /// that trickles bytes slower than that cannot hold the connection thread, however
    /// often each single read succeeds.
    public func receive() throws(VhostUserError) -> VhostUserMessage? {
        var header = [UInt8](repeating: 0, count: VhostUserHeader.size)
        let (got, descriptors, truncatedControl, deadline) = try receiveHeader(into: &header)
        if got == 0 { return nil }
        if got < VhostUserHeader.size {
            throw .truncatedMessage(request: VhostUserHeader(decoding: header).request, received: got, expected: VhostUserHeader.size)
        }
        let h = VhostUserHeader(decoding: header)
        if truncatedControl {
            throw .tooManyFileDescriptors(request: VhostUserRequest.name(of: h.request), maximum: Self.maxDescriptors)
        }
        guard h.flags & VhostUserHeader.versionMask == VhostUserHeader.version else {
            throw .unsupportedVersion(flags: h.flags)
        }
        guard h.size <= Self.maxPayload else {
            throw .payloadTooLarge(request: VhostUserRequest.name(of: h.request), size: h.size, maximum: Self.maxPayload)
        }
        var payload = [UInt8](repeating: 0, count: Int(h.size))
        if h.size > 0 {
            let n = try readFully(&payload, request: h.request, deadline: deadline)
            guard n == payload.count else {
                throw .truncatedMessage(request: h.request, received: VhostUserHeader.size + n,
                                        expected: VhostUserHeader.size + payload.count)
            }
        }
        return VhostUserMessage(header: h, payload: payload, descriptors: descriptors)
    }

    /// Sends a message, with `descriptor` (if any) passed along its first byte
    /// (`SCM_RIGHTS`); the descriptor stays the caller's. `sendmsg(2)`.
    public func send(_ header: VhostUserHeader, payload: [UInt8], descriptor: Int32? = nil) throws(VhostUserError) {
        let bytes = header.encoded + payload
        var sent = 0
        while sent < bytes.count {
            let rights = sent == 0 ? descriptor : nil
            let n = bytes.withUnsafeBytes { p in Self.send(fd, p.baseAddress! + sent, p.count - sent, descriptor: rights) }
            if n > 0 { sent += n; continue }
            if n < 0 && errno == EINTR { continue }
            throw .system(call: "send(vhost-user reply)", errno: n < 0 ? errno : EPIPE)
        }
    }

    // SAFETY: the control buffer is sized and aligned for one cmsghdr carrying one int
    // (CMSG_SPACE(4)) and written only within it.
    private static func send(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int, descriptor: Int32?) -> Int {
        let controlSize = cmsgAlign(cmsgHeaderSize) + cmsgAlign(4)
        let control = UnsafeMutableRawPointer.allocate(byteCount: controlSize, alignment: MemoryLayout<Int>.alignment)
        defer { control.deallocate() }
        control.initializeMemory(as: UInt8.self, repeating: 0, count: controlSize)
        var iov = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes), iov_len: count)
        return withUnsafeMutablePointer(to: &iov) { iovp in
            var msg = msghdr()
            msg.msg_iov = iovp
            msg.msg_iovlen = 1
            if let descriptor {
                var header = cmsghdr()
                header.cmsg_len = cmsgAlign(cmsgHeaderSize) + 4
                header.cmsg_level = SOL_SOCKET
                header.cmsg_type = Int32(SCM_RIGHTS)
                control.storeBytes(of: header, as: cmsghdr.self)
                control.storeBytes(of: descriptor, toByteOffset: cmsgAlign(cmsgHeaderSize), as: Int32.self)
                msg.msg_control = control
                msg.msg_controllen = controlSize
            }
            return sendmsg(fd, &msg, Int32(MSG_NOSIGNAL))
        }
    }

    // MARK: Receiving

    /// Control buffer for `maxDescriptors` ints: CMSG_SPACE(8 * 4) on LP64.
    private static let controlSize = cmsgAlign(cmsgHeaderSize) + cmsgAlign(maxDescriptors * 4)
    private static var cmsgHeaderSize: Int { MemoryLayout<cmsghdr>.size }
    private static func cmsgAlign(_ n: Int) -> Int {
        let a = MemoryLayout<Int>.size
        return (n + a - 1) & ~(a - 1)
    }

    private func receiveHeader(into header: inout [UInt8]) throws(VhostUserError)
        -> (Int, [ReceivedDescriptor], Bool, ContinuousClock.Instant) {
        let control = UnsafeMutableRawPointer.allocate(byteCount: Self.controlSize, alignment: MemoryLayout<Int>.alignment)
        defer { control.deallocate() }
        control.initializeMemory(as: UInt8.self, repeating: 0, count: Self.controlSize)

        var n = 0
        var flags: Int32 = 0
        var controlLength = 0
        while true {
            n = header.withUnsafeMutableBytes { buf -> Int in
                var iov = iovec(iov_base: buf.baseAddress, iov_len: buf.count)
                return withUnsafeMutablePointer(to: &iov) { iovp in
                    var msg = msghdr()
                    msg.msg_iov = iovp
                    msg.msg_iovlen = 1
                    msg.msg_control = control
                    msg.msg_controllen = Self.controlSize
                    // No MSG_WAITALL: take what is there; the rest is read against the deadline.
                    let r = recvmsg(fd, &msg, Int32(MSG_CMSG_CLOEXEC))
                    flags = msg.msg_flags
                    controlLength = msg.msg_controllen
                    return r
                }
            }
            if n < 0 && errno == EINTR { continue }
            break
        }
        if n < 0 {
            let e = errno
            if e == EAGAIN || e == EWOULDBLOCK { throw .stalledMessage(request: nil) }
            if e == ECONNRESET { return (0, [], false, .now) }
            throw .system(call: "recvmsg(vhost-user header)", errno: e)
        }
        let deadline = ContinuousClock.now.advanced(by: .seconds(timeoutSeconds))
        // Take ownership of every passed descriptor first, so all are closed on any error.
        let descriptors = Self.parseRights(control: control, length: min(controlLength, Self.controlSize))
        let truncated = flags & Int32(MSG_CTRUNC) != 0
        if n > 0 && n < header.count {
            // Interrupted or split delivery: the rest of the header follows without descriptors.
            var rest = [UInt8](repeating: 0, count: header.count - n)
            let m = try readFully(&rest, request: nil, deadline: deadline)
            header.replaceSubrange(n..<n + m, with: rest[0..<m])
            n += m
        }
        return (n, descriptors, truncated, deadline)
    }

    // SAFETY: `control` holds `length` bytes the kernel wrote as a sequence of cmsghdr
    // records; every record's declared length is checked against the buffer before its
    // data is read, and reads use unaligned loads.
    private static func parseRights(control: UnsafeMutableRawPointer, length: Int) -> [ReceivedDescriptor] {
        var out: [ReceivedDescriptor] = []
        var offset = 0
        let hdr = cmsgHeaderSize
        while offset + hdr <= length {
            let cmsg = control.advanced(by: offset).loadUnaligned(as: cmsghdr.self)
            let recordLength = Int(cmsg.cmsg_len)
            guard recordLength >= hdr, offset + recordLength <= length else { break }
            if cmsg.cmsg_level == SOL_SOCKET && cmsg.cmsg_type == Int32(SCM_RIGHTS) {
                let dataStart = offset + cmsgAlign(hdr)
                let count = (offset + recordLength - dataStart) / 4
                for i in 0..<max(0, count) {
                    let fd = control.advanced(by: dataStart + 4 * i).loadUnaligned(as: Int32.self)
                    if fd >= 0 { out.append(ReceivedDescriptor(fd)) }
                }
            }
            offset += cmsgAlign(recordLength)
        }
        return out
    }

    /// Reads until `buffer` is full or EOF; returns the bytes read. Throws
    /// ``VhostUserError/stalledMessage(request:)`` once `deadline` passes. `poll(2)`, `recv(2)`.
    private func readFully(_ buffer: inout [UInt8], request: UInt32?,
                           deadline: ContinuousClock.Instant) throws(VhostUserError) -> Int {
        var got = 0
        while got < buffer.count {
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else { throw .stalledMessage(request: request) }
            let ms = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, ms)
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 { throw .system(call: "poll(vhost-user message)", errno: errno) }
            if ready == 0 { throw .stalledMessage(request: request) }
            let n = buffer.withUnsafeMutableBytes { p in
                recv(fd, p.baseAddress! + got, p.count - got, Int32(MSG_DONTWAIT))
            }
            if n > 0 { got += n; continue }
            if n == 0 { return got }
            let e = errno
            if e == EINTR || e == EAGAIN || e == EWOULDBLOCK { continue }
            if e == ECONNRESET { return got }
            throw .system(call: "recv(vhost-user payload)", errno: e)
        }
        return got
    }
}
