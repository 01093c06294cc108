import Foundation
import Synchronization

/// The test guests under `Tests/Guests`, assembled with nasm on first use.
public enum GuestImages {
    /// `Tests/Guests` in the source tree.
    public static let sourceDirectory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Guests")

    public static let buildDirectory: URL = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftdm-guests-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }()

    private static let cache = Mutex<[String: [UInt8]]>([:])

    /// The flat binary assembled from `Tests/Guests/<name>.asm`.
    public static func image(_ name: String) throws -> [UInt8] {
        if let cached = cache.withLock({ $0[name] }) { return cached }
        let source = sourceDirectory.appendingPathComponent("\(name).asm").path
        let output = buildDirectory.appendingPathComponent("\(name).bin").path
        try Toolchain.run("nasm", ["-f", "bin", "-I", sourceDirectory.path + "/", "-o", output, source])
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: output)))
        cache.withLock { $0[name] = bytes }
        return bytes
    }
}
