import Foundation

/// `swiftdm` end to end: the built executable, its exit status, stdout (a guest's serial
/// console) and stderr.
public enum SwiftdmExecutable {
    /// The `swiftdm` built next to the test bundle.
    public static let path: String? = {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [dir, dir.deletingLastPathComponent()] {
            let p = candidate.appendingPathComponent("swiftdm").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        print("SKIP: swiftdm run tests need the swiftdm executable next to the test bundle (swift build first)")
        return nil
    }()

    public struct Outcome: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
        /// Seconds from launch until stdout first contained the `mark` text, if it did.
        public var markSeen: Double?
        public var stderrLines: [Substring] { stderr.split(separator: "\n") }
    }

    /// Runs `swiftdm` with `arguments`; sends SIGTERM after `timeout` seconds (or once `stopWhen`
    /// sees the awaited text on stdout).
    public static func run(
        _ arguments: [String], environment: [String: String] = [:], timeout: Double = 120,
        stopWhen: String? = nil, launcher: [String] = [], input: String? = nil, mark: String? = nil
    ) throws -> Outcome {
        let p = Process()
        if launcher.isEmpty {
            p.executableURL = URL(fileURLWithPath: path!)
            p.arguments = arguments
        } else {
            p.executableURL = URL(fileURLWithPath: launcher[0])
            p.arguments = Array(launcher.dropFirst()) + [path!] + arguments
        }
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let stdin = Pipe()
        p.standardInput = input == nil ? FileHandle.nullDevice : stdin
        let collected = OutputCollector()
        out.fileHandleForReading.readabilityHandler = { h in collected.append(out: h.availableData) }
        err.fileHandleForReading.readabilityHandler = { h in collected.append(err: h.availableData) }
        let launched = Date()
        var markSeen: Double?
        try p.run()
        if let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try stdin.fileHandleForWriting.close()
        }
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning {
            if let mark, markSeen == nil, collected.stdout.contains(mark) { markSeen = Date().timeIntervalSince(launched) }
            if Date() > deadline { p.terminate(); break }
            if let stopWhen, collected.stdout.contains(stopWhen) { p.terminate(); break }
            usleep(20_000)
        }
        p.waitUntilExit()
        out.fileHandleForReading.readabilityHandler = nil
        err.fileHandleForReading.readabilityHandler = nil
        collected.append(out: out.fileHandleForReading.readDataToEndOfFile())
        collected.append(err: err.fileHandleForReading.readDataToEndOfFile())
        return Outcome(status: p.terminationStatus, stdout: collected.stdout, stderr: collected.stderr, markSeen: markSeen)
    }

    final class OutputCollector: @unchecked Sendable {
        // SAFETY: every access goes through `lock`.
        private let lock = NSLock()
        private var outData = Data()
        private var errData = Data()
        func append(out d: Data) { lock.withLock { outData.append(d) } }
        func append(err d: Data) { lock.withLock { errData.append(d) } }
        var stdout: String { lock.withLock { String(decoding: outData, as: UTF8.self) } }
        var stderr: String { lock.withLock { String(decoding: errData, as: UTF8.self) } }
    }
}

