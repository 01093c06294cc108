import DeviceModel

/// Where a console port's bytes go: the launcher's stdio, a pty, a unix socket, or any pair
/// of descriptors. The backend produces ``ConsoleStream``s; the device moves bytes.
///
/// All methods are called on the device's I/O thread, and the backend calls `connected` on
/// that thread too (it may add its own watches and timers to the loop for that).
public protocol ConsoleBackend: AnyObject, Sendable {
    /// Starts the backend on the device's `loop`. `connected` is called whenever a peer is
    /// there to talk to: at once for stdio and descriptor pairs, when a client connects for
    /// a socket, when something opens the slave side for a pty.
    func start(on loop: EventLoop, connected: @escaping @Sendable (ConsoleStream) -> Void) throws(ConsoleBackendError)
    /// The device saw `stream` end (end of file, hang-up, a write error). The backend
    /// releases it and waits for the next peer.
    func disconnected(_ stream: ConsoleStream)
    /// Stops the backend and releases every descriptor it owns. Idempotent.
    func stop()
}
