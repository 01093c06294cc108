import DeviceModel
import Logging
import VirtioDevices

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
public final class VhostUserBackend: @unchecked Sendable {
    // SAFETY (@unchecked): the `var` state below is only read and written on `loop`'s
    // thread (inside its callbacks, `execute` or `sync`); `let`s are immutable.
    public let device: any VirtioDevice
    private let loop: EventLoop
    private let logger: Logger
    private let onSessionEnd: (@Sendable (VhostUserError?) -> Void)?

    private var listener: UnixSocketListener?
    private var listenWatch: EventSource?
    private var session: VhostUserSession?
    private var sessionWatch: EventSource?
    private var sessionID = 0
    private var isShutDown = false

    /// Creates the backend and its connection thread.
    /// - Parameter onSessionEnd: called on the connection thread whenever a frontend
    ///   connection ends, with the error that ended it (`nil`: the frontend disconnected).
    public init(device: any VirtioDevice, logger: Logger = Logger(label: "swiftdm.vhost-user"),
                onSessionEnd: (@Sendable (VhostUserError?) -> Void)? = nil) throws(VhostUserError) {
        self.device = device
        self.logger = logger
        self.onSessionEnd = onSessionEnd
        do {
            loop = try EventLoop(name: "vhost-user")
        } catch {
            switch error {
            case .threadCreateFailed(_, let e): throw .system(call: "pthread_create(vhost-user)", errno: e)
            }
        }
    }

    deinit { shutdown() }

    /// Listens on `path` (replacing a stale socket) and serves frontends that connect.
    public func listen(on path: String) throws(VhostUserError) {
        let result = loop.sync { [self] () -> Result<Void, VhostUserError> in
            guard self.listener == nil else { return .failure(.socketInUse(path)) }
            do throws(VhostUserError) {
                self.listener = try UnixSocketListener(path: path)
            } catch {
                return .failure(error)
            }
            self.watchListener()
            return .success(())
        }
        try result.get()
        logger.info("vhost-user: listening on \(path) for a \(device.deviceType) frontend")
    }

    /// Serves an already connected socket (socket activation, tests with `socketpair`).
    /// Takes ownership of `fd`; it is closed at once if a frontend is already being served.
    public func serve(connectedSocket fd: Int32) {
        loop.execute { [self] in
            guard !self.isShutDown, self.session == nil else {
                self.logger.warning("vhost-user: refusing a second frontend while one is connected")
                VhostUserChannel(adopting: fd).close()
                return
            }
            self.startSession(fd: fd)
        }
    }

    /// True while a frontend is connected.
    public var isServing: Bool { loop.sync { [self] in self.session != nil } }

    /// True while the device runs on the current frontend's rings.
    public var isDeviceActive: Bool { loop.sync { [self] in self.session?.isDeviceActive ?? false } }

    /// Ends the current connection (resetting the device), stops listening, removes the
    /// socket path and joins the connection thread. Idempotent.
    public func shutdown() {
        let alreadyDown = loop.sync { [self] () -> Bool in
            if self.isShutDown { return true }
            self.isShutDown = true
            self.endSession(nil, notify: false)
            self.listenWatch?.cancel()
            self.listenWatch = nil
            self.listener?.close()
            self.listener = nil
            return false
        }
        if !alreadyDown { loop.shutdown() }
    }

    // MARK: Connection thread

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
        let interrupts = VhostUserInterrupts(logger: logger) { [weak self] error in
            // From a device thread: hand over, never stop the device synchronously here.
            self?.loop.execute { [weak self] in
                guard let self, self.sessionID == id else { return }
                self.session?.deviceFailed(error)
            }
        }
        let channel = VhostUserChannel(adopting: fd)
        let session = VhostUserSession(device: device, channel: channel, interrupts: interrupts, logger: logger)
        self.session = session
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
        session.close()
        self.session = nil
        sessionID += 1
        if notify { onSessionEnd?(error) }
        watchListener()
    }
}
