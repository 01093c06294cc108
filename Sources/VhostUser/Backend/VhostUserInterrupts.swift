import DeviceModel
import Logging
import Synchronization
import Virtio
#if canImport(Glibc)
import Glibc
#endif

/// The device's way back to the frontend over vhost-user: per-ring call descriptors for
/// used-buffer notifications, err descriptors for unrecoverable ring errors, and the
/// backend channel for configuration-change notifications.
///
/// Called from the device's I/O threads while the connection thread replaces descriptors
/// (frontends re-send `SET_VRING_CALL` when the guest masks or re-targets a vector), so
/// the descriptor table sits behind a lock; signalling happens outside it.
final class VhostUserInterrupts: VirtioInterruptSink {
    private struct State {
        var call: [Int: EventNotifier] = [:]
        var err: [Int: EventNotifier] = [:]
        /// Socket (QEMU) or pipe (UML) for backend-initiated requests; owned.
        var backendChannel: Int32?
    }

    private let state = Mutex(State())
    private let logger: Logger
    private let onDeviceFailure: @Sendable (VirtioDeviceError) -> Void

    /// `onDeviceFailure` runs on the reporting device thread; it must only hand the error
    /// over (to the connection thread), never stop the device synchronously.
    init(logger: Logger, onDeviceFailure: @escaping @Sendable (VirtioDeviceError) -> Void) {
        self.logger = logger
        self.onDeviceFailure = onDeviceFailure
    }

    deinit { clearAll() }

    // MARK: Connection thread

    /// Installs (or with `nil` removes) ring `index`'s call descriptor. A new descriptor is
    /// signalled once: a frontend that reconnects or re-targets the interrupt may have missed
    /// the last notification, and a spurious one is harmless (libvhost-user does the same).
    func setCall(_ notifier: EventNotifier?, ring index: Int) {
        state.withLock { $0.call[index] = notifier }
        if let notifier { try? notifier.signalUnlessSaturated() }
    }

    func setErr(_ notifier: EventNotifier?, ring index: Int) {
        state.withLock { $0.err[index] = notifier }
    }

    func setBackendChannel(_ fd: Int32) {
        // Never block the device thread on a frontend that does not read its channel.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let old = state.withLock { s -> Int32? in
            let o = s.backendChannel
            s.backendChannel = fd
            return o
        }
        if let old { close(old) }
    }

    /// Drops every descriptor (connection ended).
    func clearAll() {
        let channel = state.withLock { s -> Int32? in
            s.call.removeAll()
            s.err.removeAll()
            let c = s.backendChannel
            s.backendChannel = nil
            return c
        }
        if let channel { close(channel) }
    }

    /// Signals every err descriptor (the frontend logs "vhost vring error").
    func signalErrors() {
        let errs = state.withLock { Array($0.err.values) }
        for e in errs { try? e.signalUnlessSaturated() }
    }

    // MARK: VirtioInterruptSink (device threads)

    func signalUsedBuffers(queue index: Int) {
        guard let call = state.withLock({ $0.call[index] }) else { return }
        do { try call.signalUnlessSaturated() } catch { logger.warning("vhost-user: call notification for ring \(index) failed: \(error)") }
    }

    func signalConfigChange() {
        // VHOST_USER_BACKEND_CONFIG_CHANGE_MSG without NEED_REPLY: UML answers on the
        // wrong end of its pipe, and the device has nothing to do with an ack.
        let header = VhostUserHeader(request: VhostUserBackendRequest.configChange.rawValue,
                                     flags: VhostUserHeader.version, size: 0).encoded
        let result: Int? = state.withLock { s in
            guard let fd = s.backendChannel else { return nil }
            return header.withUnsafeBytes { p in
                var n = send(fd, p.baseAddress, p.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
                if n < 0 && errno == ENOTSOCK { n = write(fd, p.baseAddress, p.count) }
                return n
            }
        }
        switch result {
        case nil: logger.info("vhost-user: configuration changed but the frontend has no backend channel to tell")
        case let n? where n == header.count: break
        default: logger.warning("vhost-user: config-change notification failed: errno \(errno)")
        }
    }

    func deviceNeedsReset(_ error: VirtioDeviceError) {
        logger.error("vhost-user: device needs reset: \(error)")
        // Hand the stop over before telling the frontend, so anything the frontend does
        // in response already finds the device stopped.
        onDeviceFailure(error)
        signalErrors()
    }
}
