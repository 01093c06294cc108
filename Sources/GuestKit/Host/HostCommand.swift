import Foundation

/// Runs host tools to completion (Foundation `Process`; no shell, arguments passed as they are).
public enum HostCommand {
    /// Runs `arguments` (the first is looked up in `PATH`) and returns its standard output as text.
    ///
    /// - Parameters:
    ///   - directory: The working directory; the caller's when `nil`.
    ///   - input: Written to the tool's standard input, which is `/dev/null` when `nil`.
    /// - Throws: ``GuestKitError/hostCommandFailed(command:status:output:)`` with everything
    ///   the tool printed when it exits non-zero.
    @discardableResult
    public static func run(_ arguments: [String], in directory: String? = nil, input: Data? = nil) throws -> String {
        let data = try runData(arguments, in: directory, input: input)
        return String(decoding: data, as: UTF8.self)
    }

    /// Runs `arguments` like ``run(_:in:input:)`` and returns its standard output as bytes.
    public static func runData(_ arguments: [String], in directory: String? = nil, input: Data? = nil) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let inPipe = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : inPipe
        try process.run()
        if let input {
            // Feed stdin from another thread so a large input cannot deadlock against stdout.
            let writer = inPipe.fileHandleForWriting
            Thread.detachNewThread {
                writer.write(input)
                try? writer.close()
            }
        }
        // Drain stderr concurrently for the same reason.
        let errors = PipeCollector(err.fileHandleForReading)
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let errText = errors.wait()
        guard process.terminationStatus == 0 else {
            throw GuestKitError.hostCommandFailed(command: arguments, status: process.terminationStatus,
                                                  output: String(decoding: data, as: UTF8.self) + errText)
        }
        return data
    }

    /// True when `tool` is on `PATH` (or is an executable absolute path).
    public static func exists(_ tool: String) -> Bool { path(of: tool) != nil }

    /// The full path of `tool` on `PATH`, also trying `/usr/sbin` and `/sbin`; `nil` when absent.
    public static func path(of tool: String) -> String? {
        if tool.hasPrefix("/") { return FileManager.default.isExecutableFile(atPath: tool) ? tool : nil }
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(separator: ":")
        for d in dirs + ["/usr/sbin", "/sbin"] {
            let p = "\(d)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// Throws ``GuestKitError/toolMissing(tool:package:)`` unless `tool` is on `PATH`.
    public static func require(_ tool: String, package: String) throws {
        guard exists(tool) else { throw GuestKitError.toolMissing(tool: tool, package: package) }
    }
}

/// Reads a pipe to its end on a background thread.
private final class PipeCollector: @unchecked Sendable {
    // SAFETY (@unchecked): `data` is written once by the reader thread before `done` is
    // signalled and read only after `wait()` returns.
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    func wait() -> String {
        done.wait()
        return String(decoding: data, as: UTF8.self)
    }
}
