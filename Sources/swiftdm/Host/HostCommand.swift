import Foundation

/// A failed host tool invocation (apt-get, dpkg-deb, gzip, ldd, QEMU), with what it said.
struct HostCommandError: Error, CustomStringConvertible {
    let command: [String]
    let status: Int32
    let output: String

    var description: String {
        let tail = output.split(separator: "\n").suffix(8).joined(separator: "\n    ")
        return "`\(command.joined(separator: " "))` exited with status \(status)" + (tail.isEmpty ? "" : ":\n    \(tail)")
    }
}

/// Runs host tools (Foundation `Process`; no shell, arguments passed as they are).
enum HostCommand {
    /// Runs `arguments` (the first is looked up in `PATH`) and returns its standard output;
    /// throws with the combined output on a non-zero exit.
    @discardableResult
    static func run(_ arguments: [String], in directory: String? = nil, input: Data? = nil) throws -> String {
        let data = try runData(arguments, in: directory, input: input)
        return String(decoding: data, as: UTF8.self)
    }

    static func runData(_ arguments: [String], in directory: String? = nil, input: Data? = nil) throws -> Data {
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
        let errData = ErrorCollector(err.fileHandleForReading)
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let errText = errData.wait()
        guard process.terminationStatus == 0 else {
            throw HostCommandError(command: arguments, status: process.terminationStatus,
                                   output: String(decoding: data, as: UTF8.self) + errText)
        }
        return data
    }

    /// True when `tool` is on `PATH`.
    static func exists(_ tool: String) -> Bool { path(of: tool) != nil }

    /// The full path of `tool` on `PATH`.
    static func path(of tool: String) -> String? {
        if tool.hasPrefix("/") { return FileManager.default.isExecutableFile(atPath: tool) ? tool : nil }
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(separator: ":")
        for d in dirs + ["/usr/sbin", "/sbin"] {
            let p = "\(d)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }
}

/// Reads a pipe to its end on a background thread.
private final class ErrorCollector: @unchecked Sendable {
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
