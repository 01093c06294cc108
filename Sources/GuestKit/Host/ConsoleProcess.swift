import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A child process (QEMU, user-mode Linux, `swiftdm run`, a `swiftdm vhost-user` backend) whose
/// standard output and error are collected as they arrive, so callers can wait for a line, feed
/// its standard input, signal it, or wait for it with a deadline.
public final class ConsoleProcess: @unchecked Sendable {
    // SAFETY (@unchecked): `process` is configured before `run()` and then only queried
    // (thread-safe Foundation calls); collected output lives behind `state`.

    /// The command line it was started with.
    public let arguments: [String]
    private let process = Process()
    private let input = Pipe()
    private let state = Mutex(State())
    private let changed = DispatchSemaphore(value: 0)
    private let echo: (@Sendable (String) -> Void)?

    private struct State {
        var output = ""
        var finished = false
        var waiters = 0
    }

    /// Starts `arguments[0]` (looked up in `PATH`) with the rest as its arguments.
    ///
    /// - Parameters:
    ///   - environment: Variables added to (or replacing ones in) this process's environment.
    ///   - echo: Receives each chunk of output as it arrives (for `--verbose` runs).
    public init(_ arguments: [String], environment: [String: String]? = nil, echo: (@Sendable (String) -> Void)? = nil) throws {
        self.arguments = arguments
        self.echo = echo
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = input
        try process.run()
        let reader = output.fileHandleForReading
        Thread.detachNewThread { [self] in
            var decoder = UTF8StreamDecoder()
            while true {
                let data = reader.availableData
                if data.isEmpty { break }
                let text = decoder.decode(data)
                self.echo?(text)
                self.state.withLock { $0.output += text }
                self.wakeWaiters()
            }
            let rest = decoder.finish()
            self.process.waitUntilExit()
            self.state.withLock { $0.output += rest; $0.finished = true }
            self.wakeWaiters()
        }
    }

    /// The child's process ID.
    public var pid: Int32 { process.processIdentifier }
    /// Everything the child printed so far, standard output and error interleaved.
    public var output: String { state.withLock { $0.output } }
    /// False once the child exited and its output was read to the end.
    public var isRunning: Bool { !state.withLock { $0.finished } }
    /// Exit status, or the signal number when ``terminatedBySignal``; valid once finished.
    public var terminationStatus: Int32 { process.terminationStatus }
    /// True when a signal ended the child.
    public var terminatedBySignal: Bool { process.terminationReason == .uncaughtSignal }
    /// The exit status once the child exited by itself; `nil` while it runs or when a signal ended it.
    public var exitStatus: Int32? { isRunning || terminatedBySignal ? nil : terminationStatus }

    /// Writes `text` to the child's standard input.
    public func write(_ text: String) { input.fileHandleForWriting.write(Data(text.utf8)) }

    /// Waits until the output contains `text` (true), or the process ends or `timeout` passes (false).
    public func waitForOutput(containing text: String, timeout: Duration) -> Bool {
        waitUntil(timeout: timeout) { s in s.output.contains(text) ? true : (s.finished ? false : nil) }
    }

    /// Waits for the process to exit; false on timeout.
    @discardableResult
    public func waitForExit(timeout: Duration) -> Bool {
        waitUntil(timeout: timeout) { s in s.finished ? true : nil }
    }

    /// Sends `signal` to the child. Wraps `kill(2)`.
    public func send(signal: Int32) { _ = Glibc.kill(process.processIdentifier, signal) }

    /// Kills the child (SIGKILL) and waits for it.
    public func kill() {
        if isRunning { send(signal: SIGKILL) }
        waitForExit(timeout: .seconds(10))
    }

    private func waitUntil(timeout: Duration, _ check: (State) -> Bool?) -> Bool {
        let deadline = ContinuousClock.now + timeout
        state.withLock { $0.waiters += 1 }
        defer { state.withLock { $0.waiters -= 1 } }
        while true {
            if let result = state.withLock({ check($0) }) { return result }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return false }
            let ms = Int(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)
            _ = changed.wait(timeout: .now() + .milliseconds(min(max(ms, 1), 200)))
        }
    }

    private func wakeWaiters() {
        let n = state.withLock { $0.waiters }
        for _ in 0..<max(n, 1) { changed.signal() }
    }
}
