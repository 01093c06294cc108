import Foundation
import GuestKit
import Testing

/// `swiftdm vhost-user` driven through its command line, as other tools use it: which device a
/// spelling names (the backend logs `serving <device> on <socket>` once it listens), and which
/// spellings it refuses before serving anything.
enum VhostUserCommandLine {
    /// Starts a backend with `device` (under `launcher`), waits for its `serving …` line and
    /// returns the device it names; the backend is then stopped and must exit 0.
    static func servedDevice(_ device: [String], socket: String, launcher: [String] = [],
                             sourceLocation: SourceLocation = #_sourceLocation) throws -> String? {
        let backend = try VhostUserBackendProcess(socket: socket, device: device, launcher: launcher)
        let prefix = "serving "
        let suffix = " on \(socket)"
        _ = backend.process.waitForOutput(containing: suffix, timeout: .seconds(60))
        let line = backend.process.output.split(separator: "\n").first { $0.contains(prefix) && $0.hasSuffix(suffix) }
        #expect(backend.terminate() == 0, "\(device): \(backend.process.output)", sourceLocation: sourceLocation)
        guard let line, let start = line.range(of: prefix) else { return nil }
        return String(line[start.upperBound...].dropLast(suffix.count))
    }

    /// Runs `swiftdm vhost-user --socket SOCKET <arguments>` and reports whether it was refused:
    /// it exits by itself, non-zero, with an error message, and never creates its socket.
    static func refuses(_ arguments: [String], socket: String) throws -> Bool {
        let p = try ConsoleProcess([try LinuxGuestHost.requireSwiftdm(), "vhost-user", "--socket", socket] + arguments)
        let exited = p.waitForExit(timeout: .seconds(20))
        if !exited { p.kill() }
        let socketCreated = FileManager.default.fileExists(atPath: socket)
        try? FileManager.default.removeItem(atPath: socket)
        return exited && p.exitStatus.map { $0 != 0 } == true && p.output.contains("Error:") && !socketCreated
    }
}
