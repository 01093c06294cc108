import DeviceModel
import Logging
import Synchronization
import Virtio

/// Serves one ``VirtioDevice`` to vhost-user frontends (QEMU, Cloud Hypervisor, crosvm,
/// user-mode Linux) over a UNIX socket: the third backend next to KVM and Xen.
///
/// One frontend at a time: while a connection is served, further connections wait in the
/// listen backlog. When the frontend disconnects — cleanly or by dying mid-I/O — the device
/// is reset (in-flight requests complete first), the frontend's memory is unmapped and the
/// backend waits for the next connection. A protocol violation ends the connection with a
/// logged ``VhostUserError``; it never takes the backend down.
///
/// All connection work runs on one ``EventLoop`` thread; the device runs its queues on its
/// own threads and reaches the frontend through the per-connection interrupt sink.
public final class VhostUserBackend: Sendable {
    public let device: any VirtioDevice
    private let loop: EventLoop
    private let connections: ConnectionThreadState
    private let isShutDown = Atomic<Bool>(false)
    /// The connected frontend's socket, readable from any thread so ``shutdown()`` can cut
    /// the connection while the connection thread is blocked on it.
    private let liveSocket: LiveSocket

    /// Creates the backend and its connection thread.
    /// - Parameters:
    ///   - tracksInflightRequests: offer `VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD`: every request
    ///     taken from a ring is recorded in a buffer the frontend keeps, so a frontend that
    ///     reconnects — to this backend, or to a new one after this one died — has the
    ///     requests that never completed resubmitted. `nil` (the default): for virtio-blk
    ///     only, as QEMU and SPDK do; redoing a disk request is harmless, redoing a network
    ///     transmit or console write would repeat it.
    ///   - onSessionEnd: called on the connection thread whenever a frontend connection
    ///     ends, with the error that ended it (`nil`: the frontend disconnected).
    public init(device: any VirtioDevice, logger: Logger = Logger(label: "swiftdm.vhost-user"),
                tracksInflightRequests: Bool? = nil,
                onSessionEnd: (@Sendable (VhostUserError?) -> Void)? = nil) throws(VhostUserError) {
        self.device = device
        do {
            loop = try EventLoop(name: "vhost-user")
        } catch {
            switch error {
            case .threadCreateFailed(_, let e): throw .system(call: "pthread_create(vhost-user)", errno: e)
            }
        }
        liveSocket = LiveSocket()
        connections = ConnectionThreadState(device: device, loop: loop, logger: logger, liveSocket: liveSocket,
                                            tracksInflight: tracksInflightRequests ?? (device.deviceType == .block),
                                            onSessionEnd: onSessionEnd)
    }

    deinit { shutdown() }

    /// Listens on `path` (replacing a stale socket) and serves frontends that connect.
    public func listen(on path: String) throws(VhostUserError) {
        let connections = self.connections
        try loop.sync { connections.listen(on: path) }.get()
    }

    /// Serves an already connected socket (socket activation, tests with `socketpair`).
    /// Takes ownership of `fd`; it is closed at once if a frontend is already being served.
    public func serve(connectedSocket fd: Int32) {
        let connections = self.connections
        loop.execute { connections.serve(fd: fd) }
    }

    /// True while a frontend is connected.
    public var isServing: Bool {
        let connections = self.connections
        return !isShutDown.load(ordering: .acquiring) && loop.sync { connections.isServing }
    }

    /// True while the device runs on the current frontend's rings.
    public var isDeviceActive: Bool {
        let connections = self.connections
        return !isShutDown.load(ordering: .acquiring) && loop.sync { connections.isDeviceActive }
    }

    /// Ends the current connection (resetting the device), stops listening, removes the
    /// socket path and joins the connection thread. Idempotent.
    ///
    /// The frontend's socket is shut down first, from the calling thread: a connection
    /// thread blocked on a frontend that stopped reading or sent half a message returns at
    /// once instead of after the message deadline.
    public func shutdown() {
        guard !isShutDown.exchange(true, ordering: .acquiringAndReleasing) else { return }
        liveSocket.cut()
        let connections = self.connections
        loop.sync { connections.shutdown() }
        loop.shutdown()
    }
}

/// The backend's mutable state, confined to its connection thread.
private final class ConnectionThreadState: @unchecked Sendable {
    // SAFETY (@unchecked): every `var` is read and written only on `loop`'s thread (inside
    // its callbacks, `execute` or `sync`); the `let`s are immutable and Sendable.
    let device: any VirtioDevice
    let loop: EventLoop
    let logger: Logger
    let onSessionEnd: (@Sendable (VhostUserError?) -> Void)?
    let liveSocket: LiveSocket
    let tracksInflight: Bool

    private var listener: UnixSocketListener?
    private var listenWatch: EventSource?
    private var session: VhostUserSession?
    private var sessionWatch: EventSource?
    private var sessionID = 0
    private var isShutDown = false

    init(device: any VirtioDevice, loop: EventLoop, logger: Logger, liveSocket: LiveSocket, tracksInflight: Bool,
         onSessionEnd: (@Sendable (VhostUserError?) -> Void)?) {
        self.liveSocket = liveSocket
        self.tracksInflight = tracksInflight
        self.device = device
        self.loop = loop
        self.logger = logger
        self.onSessionEnd = onSessionEnd
    }

    var isServing: Bool { session != nil }
    var isDeviceActive: Bool { session?.isDeviceActive ?? false }

    func listen(on path: String) -> Result<Void, VhostUserError> {
        guard !isShutDown, listener == nil else { return .failure(.socketInUse(path)) }
        do throws(VhostUserError) {
            listener = try UnixSocketListener(path: path)
        } catch {
            return .failure(error)
        }
        logger.info("vhost-user: listening on \(path)")
        watchListener()
        return .success(())
    }

    func serve(fd: Int32) {
        guard !isShutDown, session == nil else {
            logger.warning("vhost-user: refusing a second frontend while one is connected")
            VhostUserChannel(adopting: fd).close()
            return
        }
        startSession(fd: fd)
    }

    func shutdown() {
        guard !isShutDown else { return }
        isShutDown = true
        endSession(nil, notify: false)
        listenWatch?.cancel()
        listenWatch = nil
        listener?.close()
        listener = nil
    }

    private func watchListener() {
        guard let listener, listenWatch == nil, session == nil, !isShutDown else { return }
        listenWatch = loop.watch(fd: listener.fd, for: .readable) { [weak self] _ in self?.acceptPending() }
    }

    private func acceptPending() {
        guard let listener, session == nil else { return }
        do {
            guard let fd = try listener.accept() else { return }
            // One frontend at a time: stop watching until this one is gone.
            listenWatch?.cancel()
            listenWatch = nil
            startSession(fd: fd)
        } catch {
            logger.error("vhost-user: \(error)")
        }
    }

    private func startSession(fd: Int32) {
        sessionID += 1
        let id = sessionID
        let loop = self.loop
        let interrupts = VhostUserInterrupts(logger: logger) { [weak self] error in
            // From a device thread: hand over, never stop the device synchronously here.
            loop.execute { [weak self] in
                guard let self, self.sessionID == id, let session = self.session else { return }
                session.deviceFailed(error)
                // Memory the frontend truncated cannot be used again: end the connection.
                if session.isMemoryPoisoned { self.endSession(.guestMemoryTruncated) }
            }
        }
        let channel = VhostUserChannel(adopting: fd)
        liveSocket.set(fd)
        session = VhostUserSession(device: device, channel: channel, interrupts: interrupts, logger: logger,
                                   tracksInflight: tracksInflight)
        logger.info("vhost-user: frontend connected")
        sessionWatch = loop.watch(fd: fd, for: [.readable, .hangup, .error]) { [weak self] _ in
            self?.sessionReadable(id: id)
        }
    }

    private func sessionReadable(id: Int) {
        guard id == sessionID, let session else { return }
        do {
            if try !session.processPendingMessages() { endSession(nil) }
        } catch {
            endSession(error)
        }
    }

    private func endSession(_ error: VhostUserError?, notify: Bool = true) {
        guard let session else { return }
        sessionWatch?.cancel()
        sessionWatch = nil
        if let error {
            logger.error("vhost-user: closing the frontend connection: \(error)")
        } else {
            logger.info("vhost-user: frontend disconnected; device reset, waiting for the next one")
        }
        // Forget the descriptor before it is closed, so `cut()` never reaches a reused number.
        liveSocket.set(nil)
        session.close()
        self.session = nil
        sessionID += 1
        if notify { onSessionEnd?(error) }
        watchListener()
    }
}
