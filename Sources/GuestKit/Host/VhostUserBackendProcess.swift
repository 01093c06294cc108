import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A `swiftdm vhost-user` backend running as a child process, serving one virtio device on a
/// UNIX socket to a frontend (QEMU, user-mode Linux). Killed when released if still running.
public final class VhostUserBackendProcess: Sendable {
    /// The socket the backend listens on.
    public let socket: String
    /// The backend process; its output holds the backend's log.
    public let process: ConsoleProcess

    /// Starts `swiftdm vhost-user --socket SOCKET <device>` and waits (up to 10 s) for the socket.
    ///
    /// - Parameters:
    ///   - swiftdm: The `swiftdm` executable.
    ///   - device: The device arguments as `swiftdm vhost-user` spells them, such as
    ///     `["--blk", "disk.img,serial=data"]`, `["--rng"]` or `["--console", "socket=PATH"]`.
    ///   - launcher: A command the backend runs under, such as `ip netns exec NAME`.
    ///   - echo: Receives the backend's log as it arrives.
    /// - Throws: ``GuestKitError/backendDidNotStart(socket:output:)`` when no socket appears
    ///   (the backend refused its arguments or its device could not be opened).
    public init(swiftdm: String, socket: String, device: [String], launcher: [String] = [],
                echo: (@Sendable (String) -> Void)? = nil) throws {
        self.socket = socket
        process = try ConsoleProcess(launcher + [swiftdm, "vhost-user", "--socket", socket] + device, echo: echo)
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: socket) && process.isRunning {
            usleep(50_000)
        }
        guard FileManager.default.fileExists(atPath: socket) else {
            process.kill()
            throw GuestKitError.backendDidNotStart(socket: socket, output: process.output)
        }
    }

    /// Sends SIGTERM and waits up to 20 s; returns the exit status (`nil` if it had to be killed
    /// or a signal ended it). A backend that shuts down cleanly exits 0 and removes its socket.
    @discardableResult
    public func terminate() -> Int32? {
        process.send(signal: SIGTERM)
        guard process.waitForExit(timeout: .seconds(20)) else {
            process.kill()
            return nil
        }
        return process.exitStatus
    }

    deinit { if process.isRunning { process.kill() } }
}
