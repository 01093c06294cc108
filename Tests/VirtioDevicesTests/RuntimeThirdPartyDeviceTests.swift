import Foundation
import Testing

/// Locates `swift` on PATH; prints a SKIP line once when it is missing.
enum SwiftToolchain {
    static let executable: String? = {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(dir)/swift"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        print("SKIP: third-party device example: no `swift` executable on PATH to build Examples/VirtioEcho")
        return nil
    }()
}

@Suite("Runtime: a third-party device package")
struct RuntimeThirdPartyDeviceTests {
    /// The repository root, from this file's path (Tests/VirtioDevicesTests/<file>).
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test("Examples/VirtioEcho builds against swiftdm's library products and its own test passes",
          .enabled(if: SwiftToolchain.executable != nil, "needs the swift toolchain on PATH"),
          .timeLimit(.minutes(30)))
    func exampleBuildsAndPasses() throws {
        let package = "\(Self.repositoryRoot)/Examples/VirtioEcho"
        #expect(FileManager.default.fileExists(atPath: "\(package)/Package.swift"))
        // Its own scratch path under the system temp dir: incremental across runs and never
        // contending with this package's .build lock.
        let scratch = "\(NSTemporaryDirectory())/swiftdm-examples-build/VirtioEcho"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(SwiftToolchain.executable))
        process.arguments = ["test", "--package-path", package, "--scratch-path", scratch]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let log = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: log, as: UTF8.self)
        #expect(process.terminationStatus == 0, "swift test in Examples/VirtioEcho failed:\n\(text.suffix(4000))")
        // One test, run on every transport kind of `DeviceOnTransport`.
        let name = "the echo device returns each chain's readable bytes in its writable buffers\""
        let passed = text.split(separator: "\n").contains { $0.contains(name) && $0.contains("test cases passed") }
        #expect(passed, "the example's test did not run on every transport:\n\(text.suffix(4000))")
    }
}
