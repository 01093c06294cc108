import Display
import Glibc
import Logging
import Synchronization

/// The VNC server's thread: one `poll(2)` over the listening socket, the surface's change
/// eventfd and every client. It owns the frame (the server's copy of the surface, refreshed
/// from damage) and the client sessions; nothing else touches them while it runs.
final class VNCServerLoop: @unchecked Sendable {
    // @unchecked: handed to the server thread at start and used only there until
    // `VNCServer.stop()` has joined that thread.

    /// What a client sees while the surface is dark: black, so viewers can connect and wait.
    static let darkSize = (width: 640, height: 480)
    /// Clients beyond this many are accepted and closed at once.
    static let maximumClients = 32

    private let listener: VNCListener
    private let changes: SurfaceChangeQueue
    private let surface: DisplaySurface
    private let input: InputRouter
    private let authentication: VNCAuthentication?
    private let logger: Logger
    private let stopRequested: Atomic<Bool>
    private var frame: PixelImage
    private var frameIsDark: Bool
    private var cursor: DisplayCursor
    private var sessions: [VNCClientSession] = []
    private var clientSerial = 0

    init(listener: VNCListener, changes: SurfaceChangeQueue, display: GuestDisplay,
         authentication: VNCAuthentication?, logger: Logger) throws(DisplayError) {
        self.listener = listener
        self.changes = changes
        surface = display.primary
        input = display.input
        self.authentication = authentication
        self.logger = logger
        stopRequested = Atomic(false)
        (frame, frameIsDark) = try Self.currentFrame(of: display.primary)
        cursor = display.primary.cursor
    }

    /// Asks the loop to end (any thread); it notices at its next wake-up.
    func requestStop() {
        stopRequested.store(true, ordering: .sequentiallyConsistent)
        changes.wake()
    }

    private static func currentFrame(of surface: DisplaySurface) throws(DisplayError) -> (PixelImage, Bool) {
        if let picture = surface.snapshot() { return (picture, false) }
        return (try PixelImage(width: darkSize.width, height: darkSize.height, format: DisplaySurface.format), true)
    }

    private static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// How long the listener rests after a failed accept.
    static let acceptRetryNanoseconds: Int64 = 1_000_000_000
    /// When the listener is polled again after a failed accept (monotonic nanoseconds).
    private var listenerRestsUntil: Int64?
    /// True from a failed accept until one succeeds (the failure is logged once).
    private var acceptFailing = false

    func run() {
        while !stopRequested.load(ordering: .sequentiallyConsistent) {
            // A negative descriptor is skipped by poll(2): the listener rests after a failed accept.
            let resting = listenerRestsUntil.map { $0 > Self.now() } ?? false
            if !resting { listenerRestsUntil = nil }
            var fds = [pollfd(fd: resting ? -1 : listener.fd, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: changes.eventFD, events: Int16(POLLIN), revents: 0)]
            for s in sessions {
                fds.append(pollfd(fd: s.fd, events: Int16(POLLIN) | (s.wantsToWrite ? Int16(POLLOUT) : 0), revents: 0))
            }
            // Wake once a second while a handshake runs, to enforce its deadline.
            let timeout: Int32 = sessions.contains { $0.phase != .normal } || resting ? 1000 : -1
            let rc = poll(&fds, nfds_t(fds.count), timeout)
            if rc < 0 {
                if errno == EINTR { continue }
                logger.error("vnc: poll failed: errno \(errno); the server stops")
                break
            }
            if fds[1].revents != 0 { apply(changes.take()) }
            let polled = sessions
            var closing: [(VNCClientSession, String)] = []
            for (i, s) in polled.enumerated() {
                let revents = Int32(fds[i + 2].revents)
                do {
                    if revents & (Int32(POLLIN) | Int32(POLLHUP) | Int32(POLLERR)) != 0 {
                        try s.receive()
                        try s.handleMessages(frame: frame)
                    }
                    try s.sendUpdateIfDue(frame: frame, cursor: cursor)
                    if try !s.flush() { closing.append((s, "failed the security handshake")) }
                } catch {
                    closing.append((s, error.description))
                }
            }
            let now = Self.now()
            for s in polled where s.phase != .normal && now > s.handshakeDeadline {
                closing.append((s, "did not finish the handshake in \(VNCClientSession.handshakeSeconds) s"))
            }
            for (s, reason) in closing where sessions.contains(where: { $0 === s }) {
                logger.debug("vnc: \(s.name) closed: \(reason)")
                sessions.removeAll { $0 === s }
            }
            if fds[0].revents != 0 { acceptClients() }
        }
        for s in sessions { logger.debug("vnc: \(s.name) closed: the server stops") }
        sessions.removeAll()
        listener.close()
    }

    private func acceptClients() {
        while true {
            let fd: Int32?
            do { fd = try listener.accept() } catch {
                // The connection stays pending and the socket readable: rest a second instead
                // of spinning, and say so once until an accept succeeds again.
                if !acceptFailing { logger.error("vnc: cannot take a connection (\(error)); retrying every second") }
                acceptFailing = true
                listenerRestsUntil = Self.now() + Self.acceptRetryNanoseconds
                return
            }
            acceptFailing = false
            guard let fd else { return }
            clientSerial += 1
            let name = Self.peerName(fd, serial: clientSerial)
            guard sessions.count < Self.maximumClients else {
                logger.warning("vnc: \(name) refused: already \(Self.maximumClients) clients")
                close(fd)
                continue
            }
            var on: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
            let context = VNCClientSession.Context(authentication: authentication, input: input, logger: logger, name: name)
            let session = VNCClientSession(fd: fd, context: context, now: Self.now())
            do { _ = try session.flush() } catch {
                logger.debug("vnc: \(name) closed: \(error.description)")
                continue
            }
            sessions.append(session)
        }
    }

    /// Brings the frame up to date and tells the sessions what changed.
    private func apply(_ c: SurfaceChangeQueue.Changes) {
        if c.cursor {
            // Moves alone change nothing a client draws: the viewer's pointer is its own.
            let new = surface.cursor
            let sameImage = new.image.map(ObjectIdentifier.init) == cursor.image.map(ObjectIdentifier.init)
            let changed = !sameImage || new.hotspotX != cursor.hotspotX || new.hotspotY != cursor.hotspotY
            cursor = new
            if changed { for s in sessions { s.cursorChanged() } }
        }
        var resized = c.resized
        if !resized && !c.damage.isEmpty {
            let frame = self.frame, dark = frameIsDark
            resized = surface.read { picture -> Bool in
                guard let picture else { return !dark }
                guard !dark, picture.width == frame.width, picture.height == frame.height else { return true }
                for r in c.damage { frame.copy(from: picture, rect: r, toX: r.x, y: r.y) }
                return false
            }
            if !resized {
                for s in sessions { for r in c.damage { s.markDamaged(r) } }
            }
        }
        guard resized else { return }
        do {
            (frame, frameIsDark) = try Self.currentFrame(of: surface)
        } catch {
            logger.error("vnc: cannot copy the resized surface: \(error)")
            return
        }
        var failed: [(VNCClientSession, String)] = []
        for s in sessions {
            do { try s.frameResized(width: frame.width, height: frame.height) } catch { failed.append((s, error.description)) }
        }
        for (s, reason) in failed {
            logger.debug("vnc: \(s.name) closed: \(reason)")
            sessions.removeAll { $0 === s }
        }
    }

    private static func address(_ text: [CChar]) -> String {
        String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// "address:port" of a TCP peer, or a numbered name for a UNIX socket's. `getpeername(2)`.
    private static func peerName(_ fd: Int32, serial: Int) -> String {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
        }
        guard rc == 0 else { return "client #\(serial)" }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    var a = sin.pointee.sin_addr
                    inet_ntop(AF_INET, &a, &text, socklen_t(text.count))
                    return "\(address(text)):\(UInt16(bigEndian: sin.pointee.sin_port)) (#\(serial))"
                }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin in
                    var a = sin.pointee.sin6_addr
                    inet_ntop(AF_INET6, &a, &text, socklen_t(text.count))
                    return "[\(address(text))]:\(UInt16(bigEndian: sin.pointee.sin6_port)) (#\(serial))"
                }
            }
        default:
            return "unix client #\(serial)"
        }
    }
}
