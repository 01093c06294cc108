import Foundation
import GuestKit
#if canImport(Glibc)
import Glibc
#endif

/// One backend process serving an image on a socket, started fresh for each measurement (so
/// no run inherits another's caches, queues or leaks) and stopped after it.
public final class BlockBackendProcess {
    /// Which backend, and the socket it serves.
    public let kind: BlockBackendKind
    public let socket: String
    private let process: ConsoleProcess
    private var stopped = false

    /// Starts `command` and waits up to 10 s for `socket` to appear.
    ///
    /// - Throws: ``StorageBenchError/backendDidNotStart(command:output:)`` with what the
    ///   process printed when it exits or never creates the socket.
    public init(kind: BlockBackendKind, command: [String], socket: String) throws(StorageBenchError) {
        self.kind = kind
        self.socket = socket
        unlink(socket)
        process = try Self.spawn(command)
        for _ in 0..<500 where !FileManager.default.fileExists(atPath: socket) && process.isRunning {
            usleep(20_000)
        }
        guard FileManager.default.fileExists(atPath: socket), process.isRunning else {
            process.kill()
            stopped = true   // deinit runs for this object too: nothing left to signal
            throw .backendDidNotStart(command: command.joined(separator: " "), output: process.output)
        }
    }

    /// Starts `command` with no signal blocked.
    ///
    /// A child inherits the spawning thread's signal mask, and Dispatch's worker threads
    /// (where Swift concurrency, and so a test, may run this) block SIGTERM and SIGINT:
    /// qemu-storage-daemon would then never see the SIGTERM ``stop()`` sends. The thread's
    /// own mask is restored as soon as the child exists. `pthread_sigmask(3)`.
    private static func spawn(_ command: [String]) throws(StorageBenchError) -> ConsoleProcess {
        var nothing = sigset_t()
        var saved = sigset_t()
        sigemptyset(&nothing)
        pthread_sigmask(SIG_SETMASK, &nothing, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        do { return try ConsoleProcess(command) } catch {
            throw .backendDidNotStart(command: command.joined(separator: " "), output: "\(error)")
        }
    }

    /// What the backend printed so far.
    public var output: String { process.output }

    /// SIGTERM, then SIGKILL after 10 s; removes a socket the backend left behind. Only the
    /// first call signals: after that the process ID may belong to someone else.
    public func stop() {
        guard !stopped else { return }
        stopped = true
        process.send(signal: SIGTERM)
        if !process.waitForExit(timeout: .seconds(10)) { process.kill() }
        unlink(socket)
    }

    deinit { stop() }
}
