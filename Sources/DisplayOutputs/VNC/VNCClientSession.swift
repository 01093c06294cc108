import CDeviceModelShims
import Display
import Glibc
import Logging

/// One connected VNC client, from the version handshake to its last message (RFC 6143 §7):
/// reads whatever arrived, acts on every whole message, queues replies and updates, and
/// writes them as the socket takes them. Owned by the server thread; the socket is
/// non-blocking, so a slow or stalled client holds up nobody.
///
/// Everything the client sends is checked before use: lengths are bounded, a malformed or
/// unsupported message throws an ``RFBViolation`` and the server closes this client.
final class VNCClientSession {
    enum Phase: Equatable {
        case version, securityType, authResponse, clientInit, normal
        /// A final message (a failed SecurityResult) is being written; then the socket closes.
        case closing
    }

    /// What the session needs from the server.
    struct Context {
        var authentication: VNCAuthentication?
        var input: InputRouter
        var logger: Logger
        var name: String
    }

    /// How long a client may take from connecting to ClientInit.
    static let handshakeSeconds: Int64 = 30
    /// The most encodings a SetEncodings may list (real clients send about 20).
    static let maximumEncodings = 256
    /// The longest ClientCutText accepted (it is skipped, but a huge one is not a clipboard).
    static let maximumCutText = 1 << 20
    static let serverName = "swiftdm"
    /// The most received bytes held before they form a message (the largest message, a
    /// SetEncodings of 256, is 1028 bytes; one read adds at most 64 KiB).
    static let maximumUnhandledBytes = 256 * 1024

    let fd: Int32
    let name: String
    private(set) var phase = Phase.version
    let handshakeDeadline: Int64
    private var minorVersion = 8
    private var challenge: [UInt8] = []

    private var inbox: [UInt8] = []
    private var inboxStart = 0
    private var skipping = 0
    private var outbox: [UInt8] = []
    private var outboxSent = 0
    private var readBuffer = [UInt8](repeating: 0, count: 64 * 1024)

    private(set) var format = RFBPixelFormat.native
    private(set) var encodings = RFBEncodings()
    private(set) var framebuffer: ClientFramebuffer?
    private var zrle: ZRLEEncoding?
    private var request: (rect: DisplayRect, incremental: Bool)?
    private var buttons: UInt8 = 0
    private var pointer: (x: Int, y: Int)?
    private var unmappedKeysyms: Set<UInt32> = []
    private var keyboard = VNCKeyboardState()

    private let context: Context

    init(fd: Int32, context: Context, now: Int64) {
        self.fd = fd
        self.name = context.name
        self.context = context
        handshakeDeadline = now + Self.handshakeSeconds * 1_000_000_000
        outbox = Array("RFB 003.008\n".utf8)
    }

    deinit { close(fd) }

    var wantsToWrite: Bool { outboxSent < outbox.count }
    private var available: Int { inbox.count - inboxStart }

    // MARK: Socket

    /// Reads what arrived. `recv(2)`.
    func receive() throws(RFBViolation) {
        let n = readBuffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 {
            // A closing session reads nothing more; an open one holds at most one partial
            // message (every whole one is handled after each read), so this bound is generous.
            guard phase != .closing else { return }
            guard available + n <= Self.maximumUnhandledBytes else {
                throw RFBViolation("sent \(available + n) bytes that do not form a message")
            }
            inbox.append(contentsOf: readBuffer[0..<n])
            return
        }
        if n == 0 {
            throw RFBViolation(available > 0 || skipping > 0 ? "closed the connection in the middle of a message"
                                                             : "closed the connection")
        }
        switch errno {
        case EAGAIN, EWOULDBLOCK, EINTR: return
        default: throw RFBViolation("recv failed: errno \(errno)")
        }
    }

    /// Writes as much of the queued output as the socket takes. `send(2)` with
    /// `MSG_NOSIGNAL`: a client gone away is an error here, not a SIGPIPE.
    /// Returns false once a closing session has written its last byte.
    func flush() throws(RFBViolation) -> Bool {
        while outboxSent < outbox.count {
            let n = outbox.withUnsafeBytes { b in
                send(fd, b.baseAddress! + outboxSent, b.count - outboxSent, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                outboxSent += n
                continue
            }
            switch errno {
            case EAGAIN, EWOULDBLOCK: return true
            case EINTR: continue
            default: throw RFBViolation("send failed: errno \(errno)")
            }
        }
        outbox.removeAll(keepingCapacity: outbox.capacity <= 1 << 20)
        outboxSent = 0
        return phase != .closing
    }

    // MARK: Messages

    /// Acts on every whole message received so far; a partial one waits for its rest.
    func handleMessages(frame: PixelImage) throws(RFBViolation) {
        while phase != .closing {
            if skipping > 0 {
                let n = min(skipping, available)
                inboxStart += n
                skipping -= n
                if skipping > 0 { break }
            }
            guard try handleOne(frame: frame) else { break }
        }
        if inboxStart > 0 {
            inbox.removeFirst(inboxStart)
            inboxStart = 0
        }
    }

    private func bytes(_ count: Int) -> ArraySlice<UInt8>? {
        guard available >= count else { return nil }
        return inbox[inboxStart..<inboxStart + count]
    }

    private func u16(_ b: ArraySlice<UInt8>, _ at: Int) -> Int {
        Int(b[b.startIndex + at]) << 8 | Int(b[b.startIndex + at + 1])
    }

    private func u32(_ b: ArraySlice<UInt8>, _ at: Int) -> UInt32 {
        let s = b.startIndex + at
        return UInt32(b[s]) << 24 | UInt32(b[s + 1]) << 16 | UInt32(b[s + 2]) << 8 | UInt32(b[s + 3])
    }

    private func queue(u32 v: UInt32) {
        outbox += [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)]
    }

    /// Handles the next message if it is whole; false when it is not yet.
    private func handleOne(frame: PixelImage) throws(RFBViolation) -> Bool {
        switch phase {
        case .version:
            guard let b = bytes(12) else { return false }
            try handleVersion(Array(b))
            inboxStart += 12
        case .securityType:
            guard let b = bytes(1) else { return false }
            inboxStart += 1
            try handleSecurityType(b[b.startIndex])
        case .authResponse:
            guard let b = bytes(VNCAuthentication.challengeLength) else { return false }
            inboxStart += VNCAuthentication.challengeLength
            handleAuthResponse(Array(b))
        case .clientInit:
            guard bytes(1) != nil else { return false }
            inboxStart += 1
            try handleClientInit(frame: frame)
        case .normal:
            return try handleClientMessage(frame: frame)
        case .closing:
            return false
        }
        return true
    }

    /// ProtocolVersion (§7.1.1): "RFB xxx.yyy\n". 3.3 and 3.7 are served as such; 3.8 and
    /// anything newer as 3.8; the odd minors some viewers send (3.4, 3.5, 3.6) as 3.3.
    private func handleVersion(_ b: [UInt8]) throws(RFBViolation) {
        let digits = b[4..<7] + b[8..<11]
        guard b[0..<4] == Array("RFB ".utf8)[...], b[7] == UInt8(ascii: "."), b[11] == 0x0a,
              digits.allSatisfy({ (0x30...0x39).contains($0) }) else {
            let shown = b.map { (0x20..<0x7f).contains($0) ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16) }.joined()
            throw RFBViolation("sent '\(shown)' instead of a protocol version")
        }
        let major = Int(String(decoding: b[4..<7], as: UTF8.self)) ?? 0
        let minor = Int(String(decoding: b[8..<11], as: UTF8.self)) ?? 0
        guard major == 3 else { throw RFBViolation("speaks RFB \(major).\(minor), not 3.x") }
        minorVersion = minor >= 8 ? 8 : minor == 7 ? 7 : 3
        let type: UInt8 = context.authentication == nil ? 1 : 2
        if minorVersion == 3 {
            // 3.3: the server decides the security type alone (§7.1.2).
            queue(u32: UInt32(type))
            try beginSecurity(type)
        } else {
            outbox += [1, type]
            phase = .securityType
        }
    }

    private func handleSecurityType(_ chosen: UInt8) throws(RFBViolation) {
        let offered: UInt8 = context.authentication == nil ? 1 : 2
        guard chosen == offered else {
            let problem = "chose security type \(chosen), which was not offered (\(offered))"
            guard minorVersion >= 8 else { throw RFBViolation(problem) }
            // 3.8 says why before the connection closes.
            context.logger.warning("vnc: \(name): \(problem)")
            queueSecurityFailure("security type \(chosen) was not offered")
            return
        }
        try beginSecurity(chosen)
    }

    private func beginSecurity(_ type: UInt8) throws(RFBViolation) {
        if type == 1 {
            // None: 3.8 confirms with a SecurityResult, older versions go straight on (§7.2.1).
            if minorVersion >= 8 { queue(u32: 0) }
            phase = .clientInit
            return
        }
        challenge = [UInt8](repeating: 0, count: VNCAuthentication.challengeLength)
        let got = challenge.withUnsafeMutableBytes { swiftdm_getrandom($0.baseAddress, $0.count, 0) }
        guard got == VNCAuthentication.challengeLength else { throw RFBViolation("getrandom failed for the challenge") }
        outbox += challenge
        phase = .authResponse
    }

    private func handleAuthResponse(_ response: [UInt8]) {
        guard let auth = context.authentication, auth.accepts(response, for: challenge) else {
            context.logger.warning("vnc: \(name): wrong password")
            queueSecurityFailure("password incorrect")
            return
        }
        queue(u32: 0)
        phase = .clientInit
    }

    /// SecurityResult "failed" (§7.1.3), with a reason from 3.8 on, then the connection closes.
    private func queueSecurityFailure(_ reason: String) {
        queue(u32: 1)
        if minorVersion >= 8 {
            queue(u32: UInt32(reason.utf8.count))
            outbox += Array(reason.utf8)
        }
        phase = .closing
    }

    /// ClientInit (§7.3.1; the shared flag is moot, every client shares) and ServerInit.
    private func handleClientInit(frame: PixelImage) throws(RFBViolation) {
        do {
            framebuffer = try ClientFramebuffer(width: frame.width, height: frame.height)
            if encodings.cursor { framebuffer?.cursorChanged() }
        } catch {
            throw RFBViolation("cannot hold a \(frame.width)x\(frame.height) framebuffer: \(error)")
        }
        ClientFramebuffer.appendU16(frame.width, to: &outbox)
        ClientFramebuffer.appendU16(frame.height, to: &outbox)
        outbox += RFBPixelFormat.native.encoded
        queue(u32: UInt32(Self.serverName.utf8.count))
        outbox += Array(Self.serverName.utf8)
        phase = .normal
        context.logger.debug("vnc: \(name) connected (RFB 3.\(minorVersion))")
    }

    /// One client-to-server message (§7.5); false when it is not whole yet.
    private func handleClientMessage(frame: PixelImage) throws(RFBViolation) -> Bool {
        guard let type = bytes(1)?.first else { return false }
        switch type {
        case 0:  // SetPixelFormat
            guard let b = bytes(20) else { return false }
            let f = RFBPixelFormat(wire: b[(b.startIndex + 4)...])
            if let problem = f.validate() { throw RFBViolation("SetPixelFormat \(f): \(problem)") }
            format = f
            inboxStart += 20
        case 2:  // SetEncodings
            guard let b = bytes(4) else { return false }
            let count = u16(b, 2)
            guard count <= Self.maximumEncodings else {
                throw RFBViolation("SetEncodings lists \(count) encodings, more than \(Self.maximumEncodings)")
            }
            guard let all = bytes(4 + 4 * count) else { return false }
            let list = (0..<count).map { Int32(bitPattern: u32(all, 4 + 4 * $0)) }
            let before = encodings
            encodings = RFBEncodings(list)
            if encodings.cursor && !before.cursor { framebuffer?.cursorChanged() }
            if encodings.pixels == .zrle && zrle == nil {
                do { zrle = try ZRLEEncoding() } catch { throw RFBViolation("cannot start a ZRLE stream: \(error)") }
            }
            inboxStart += 4 + 4 * count
        case 3:  // FramebufferUpdateRequest
            guard let b = bytes(10) else { return false }
            let rect = DisplayRect(x: u16(b, 2), y: u16(b, 4), width: u16(b, 6), height: u16(b, 8))
            let incremental = b[b.startIndex + 1] != 0
            if let r = request {
                request = (r.rect.union(rect), r.incremental && incremental)
            } else {
                request = (rect, incremental)
            }
            inboxStart += 10
        case 4:  // KeyEvent
            guard let b = bytes(8) else { return false }
            handleKey(u32(b, 4), pressed: b[b.startIndex + 1] != 0)
            inboxStart += 8
        case 5:  // PointerEvent
            guard let b = bytes(6) else { return false }
            handlePointer(mask: b[b.startIndex + 1], x: u16(b, 2), y: u16(b, 4), frame: frame)
            inboxStart += 6
        case 6:  // ClientCutText: skipped (no clipboard), but its length is bounded.
            guard let b = bytes(8) else { return false }
            let length = u32(b, 4)
            guard length <= Self.maximumCutText else {
                throw RFBViolation("ClientCutText of \(length) bytes, more than \(Self.maximumCutText)")
            }
            inboxStart += 8
            skipping = Int(length)
        default:
            // An unknown message has no known length: nothing after it can be parsed.
            throw RFBViolation("sent unknown message type \(type)")
        }
        return true
    }

    private func handleKey(_ keysym: UInt32, pressed: Bool) {
        guard let events = keyboard.events(keysym: keysym, pressed: pressed) else {
            if unmappedKeysyms.count < 256, unmappedKeysyms.insert(keysym).inserted {
                context.logger.debug("vnc: \(name): keysym 0x\(String(keysym, radix: 16)) has no key; ignored")
            }
            return
        }
        context.input.send(events)
    }

    /// The RFB button mask (bit 0 left, 1 middle, 2 right, 3/4 wheel up/down, 7 back) as evdev
    /// button and wheel events, and the position as an absolute one across the picture.
    private func handlePointer(mask: UInt8, x: Int, y: Int, frame: PixelImage) {
        var events: [InputEvent] = []
        if pointer.map({ $0 != (x, y) }) ?? true {
            events.append(.absolute(pixelX: x, pixelY: y, width: frame.width, height: frame.height))
            pointer = (x, y)
        }
        let changed = mask ^ buttons
        let buttonBits: [(UInt8, PointerButton)] = [(0x01, .left), (0x02, .middle), (0x04, .right), (0x80, .side)]
        for (bit, button) in buttonBits where changed & bit != 0 {
            events.append(.button(button, pressed: mask & bit != 0))
        }
        // The wheel is a press of button 4 or 5, one notch each.
        if changed & 0x08 != 0 && mask & 0x08 != 0 { events.append(.wheel(steps: 1)) }
        if changed & 0x10 != 0 && mask & 0x10 != 0 { events.append(.wheel(steps: -1)) }
        buttons = mask
        if !events.isEmpty { context.input.send(events) }
    }

    // MARK: Updates

    /// The picture changed size.
    func frameResized(width: Int, height: Int) throws(RFBViolation) {
        do {
            try framebuffer?.frameResized(width: width, height: height, clientCanResize: encodings.desktopSize)
        } catch {
            throw RFBViolation("cannot follow the resize to \(width)x\(height): \(error)")
        }
    }

    func markDamaged(_ rect: DisplayRect) { framebuffer?.markDamaged(rect) }

    func cursorChanged() { framebuffer?.cursorChanged() }

    /// Answers the pending FramebufferUpdateRequest when there is something to send and the
    /// previous update has left: at most one update is ever queued, so a client that stops
    /// reading costs one frame of memory.
    func sendUpdateIfDue(frame: PixelImage, cursor: DisplayCursor) throws(RFBViolation) {
        guard phase == .normal, !wantsToWrite, let r = request, let fb = framebuffer,
              fb.hasUpdate(for: r.rect, incremental: r.incremental, encodings: encodings) else { return }
        let message: [UInt8]?
        do {
            message = try fb.update(from: frame, cursor: cursor, request: r.rect, incremental: r.incremental, format: format,
                                    encodings: encodings, zrle: zrle)
        } catch {
            throw RFBViolation("ZRLE compression failed: \(error)")
        }
        guard let message else { return }
        outbox += message
        request = nil
    }
}
