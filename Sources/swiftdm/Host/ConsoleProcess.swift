import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A child process (QEMU, user-mode Linux, a `swiftdm vhost-user` backend) whose standard
/// output and error are collected as they arrive, so callers can wait for a line, feed its
/// standard input, kill it, or wait for it with a deadline.
final class ConsoleProcess: @unchecked Sendable {
    // SAFETY (@unchecked): `process` is configured before `run()` and then only queried
    // (thread-safe Foundation calls); collected output lives behind `state`.
    let arguments: [String]
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

    /// Starts `arguments[0]` (looked up in `PATH`). `echo` receives each chunk of output
    /// as it arrives (for `--verbose` runs).
    init(_ arguments: [String], environment: [String: String]? = nil, echo: (@Sendable (String) -> Void)? = nil) throws {
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
            while true {
                let data = reader.availableData
                if data.isEmpty { break }
                let text = String(decoding: data, as: UTF8.self)
                self.echo?(text)
                self.state.withLock { $0.output += text }
                self.wakeWaiters()
            }
            self.process.waitUntilExit()
            self.state.withLock { $0.finished = true }
            self.wakeWaiters()
        }
    }

    var pid: Int32 { process.processIdentifier }
    var output: String { state.withLock { $0.output } }
    var isRunning: Bool { !state.withLock { $0.finished } }
    /// Exit status (or the signal number when killed); valid once finished.
    var terminationStatus: Int32 { process.terminationStatus }
    var terminatedBySignal: Bool { process.terminationReason == .uncaughtSignal }

    /// Writes to the child's standard input.
    func write(_ text: String) { input.fileHandleForWriting.write(Data(text.utf8)) }

    /// Waits until the output contains `text` (true) or the process ends or `timeout` passes (false).
    func waitForOutput(containing text: String, timeout: Duration) -> Bool {
        waitUntil(timeout: timeout) { s in s.output.contains(text) ? true : (s.finished ? false : nil) }
    }

    /// Waits for the process to exit; false on timeout.
    @discardableResult
    func waitForExit(timeout: Duration) -> Bool {
        waitUntil(timeout: timeout) { s in s.finished ? true : nil }
    }

    /// Sends `signal` to the child.
    func send(signal: Int32) { _ = Glibc.kill(process.processIdentifier, signal) }

    /// Kills the child (SIGKILL) and waits for it.
    func kill() {
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
