import Foundation
import KVMGlue

/// What the KVM tests need from the host, checked once. Missing pieces print a `SKIP:` line so a
/// skipped test is never mistaken for a passing one.
public enum HostRequirements {
    /// `/dev/kvm` opens and has every capability swiftdm requires.
    public static let kvm: Bool = {
        do {
            _ = try KVMSystem()
            return true
        } catch {
            print("SKIP: KVM guest tests need a usable /dev/kvm: \(error)")
            return false
        }
    }()

    /// nasm is installed (the guests are assembled at test time).
    public static let nasm: Bool = {
        if Toolchain.find("nasm") != nil { return true }
        print("SKIP: KVM guest tests need nasm to assemble Tests/Guests (apt-get install nasm)")
        return false
    }()

    /// gcc is installed (the C comparison loop is built at test time).
    public static let gcc: Bool = {
        if Toolchain.find("gcc") != nil { return true }
        print("SKIP: the C KVM comparison loop needs gcc")
        return false
    }()

    public static let guests: Bool = kvm && nasm
}

public enum Toolchain {
    public static func find(_ tool: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Runs `tool` with `arguments`; throws with its output when it fails.
    @discardableResult
    public static func run(_ tool: String, _ arguments: [String]) throws -> String {
        guard let path = tool.contains("/") ? tool : find(tool) else { throw Failure(description: "\(tool) not found") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw Failure(description: "\(tool) \(arguments.joined(separator: " ")) failed (\(p.terminationStatus)): \(output)")
        }
        return output
    }
}
