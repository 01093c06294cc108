import CDeviceModelShims
import Display
import Glibc
import Logging
import Synchronization

/// A VNC server (RFB 3.8, RFC 6143; 3.3 and 3.7 clients too) showing a machine's primary
/// surface and sending its clients' keys and pointer to the machine's input devices.
///
/// ``start()`` binds and runs one server thread that serves every client; ``stop()`` closes
/// everything and joins it. Encodings: Raw, CopyRect (for scrolls), ZRLE, and the DesktopSize
/// (mode changes) and Cursor (the device's pointer image) pseudo-encodings. A dark surface
/// shows as a black 640×480 screen. A misbehaving client is closed with a log line; the
/// others carry on.
public final class VNCServer: Sendable {
    /// Where the server listens and whether it asks for a password.
    public let configuration: VNCConfiguration
    private let display: GuestDisplay
    private let logger: Logger

    private struct Running {
        var thread: pthread_t
        var loop: VNCServerLoop
        var observer: Int
        var changes: SurfaceChangeQueue
    }
    private enum Lifecycle {
        case idle
        case running(Running)
        case stopped
    }
    private let lifecycle = Mutex(Lifecycle.idle)

    /// A server for `display` (not yet listening).
    public init(display: GuestDisplay, configuration: VNCConfiguration,
                logger: Logger = Logger(label: "swiftdm.vnc")) {
        self.display = display
        self.configuration = configuration
        self.logger = logger
    }

    deinit { stop() }

    /// Binds the listening socket and starts the server thread. Throws when the address is
    /// taken or invalid, or when the server ran before.
    public func start() throws(VNCError) {
        try lifecycle.withLock { (state: inout Lifecycle) throws(VNCError) in
            guard case .idle = state else { throw .alreadyStarted }
            let listener = try VNCListener(configuration.listen)
            let changes = try SurfaceChangeQueue()
            let observer = display.primary.addObserver { changes.note($0) }
            let loop: VNCServerLoop
            do {
                loop = try VNCServerLoop(listener: listener, changes: changes, display: display,
                                         authentication: configuration.password.map { VNCAuthentication(password: $0) },
                                         logger: logger)
            } catch {
                display.primary.removeObserver(observer)
                throw .system(call: "allocating the VNC frame (\(error))", errno: ENOMEM)
            }
            let box = Unmanaged.passRetained(loop).toOpaque()
            var tid = pthread_t()
            let rc = pthread_create(&tid, nil, { raw in
                guard let raw else { return nil }
                let loop = Unmanaged<VNCServerLoop>.fromOpaque(raw).takeRetainedValue()
                _ = swiftdm_set_thread_name("vnc")
                loop.run()
                return nil
            }, box)
            guard rc == 0 else {
                Unmanaged<VNCServerLoop>.fromOpaque(box).release()
                display.primary.removeObserver(observer)
                throw .system(call: "pthread_create(vnc)", errno: rc)
            }
            state = .running(Running(thread: tid, loop: loop, observer: observer, changes: changes))
            logger.info("vnc: listening on \(configuration.listen)")
        }
    }

    /// Closes every client and the listening socket and joins the server thread (idempotent).
    public func stop() {
        let running = lifecycle.withLock { state -> Running? in
            guard case .running(let r) = state else { return nil }
            state = .stopped
            return r
        }
        guard let running else { return }
        display.primary.removeObserver(running.observer)
        running.loop.requestStop()
        pthread_join(running.thread, nil)
    }
}
