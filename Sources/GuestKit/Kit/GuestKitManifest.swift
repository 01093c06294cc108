import Foundation

/// `kit.manifest`: what a guest kit was built from and what the build produced. The inputs are
/// `key=value` lines (package versions, host tool binaries, the module list, the hashes of the
/// init script and the power-button handler); a kit is reused only when they match the current
/// inputs exactly and its files are all there.
struct GuestKitManifest {
    static let fileName = "kit.manifest"

    /// The input lines, compared verbatim.
    var inputs: [String]
    var kernelRelease: String
    var umlRelease: String?
    var hasTools: Bool

    func write(into directory: String) throws {
        let lines = inputs + [
            "kernel-release=\(kernelRelease)",
            "uml-release=\(umlRelease ?? "")",
            "tools-initrd=\(hasTools)",
        ]
        try (lines.joined(separator: "\n") + "\n").write(toFile: directory + "/" + Self.fileName, atomically: true, encoding: .utf8)
    }

    /// The kit in `directory` when its manifest records exactly `inputs` and its files exist.
    static func existingKit(in directory: String, matching inputs: [String], variant: BuiltGuestKit.Variant = .standard) -> BuiltGuestKit? {
        guard let text = try? String(contentsOfFile: directory + "/" + fileName, encoding: .utf8) else { return nil }
        let lines = text.split(separator: "\n").map(String.init)
        guard Array(lines.prefix(inputs.count)) == inputs else { return nil }
        var values: [String: String] = [:]
        for l in lines.dropFirst(inputs.count) {
            let parts = l.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { values[parts[0]] = parts[1] } else if parts.count == 1 { values[parts[0]] = "" }
        }
        guard let release = values["kernel-release"] else { return nil }
        let uml = values["uml-release"].flatMap { $0.isEmpty ? nil : $0 }
        let kit = BuiltGuestKit(directory: directory, kernelRelease: release, umlRelease: uml,
                                hasTools: values["tools-initrd"] == "true", variant: variant)
        let files = [kit.kernel, kit.initrd] + [kit.toolsInitrd, kit.umlKernel, kit.umlInitrd].compactMap { $0 }
        guard files.allSatisfy({ FileManager.default.fileExists(atPath: $0) }) else { return nil }
        return kit
    }
}

extension String {
    /// FNV-1a of the UTF-8 bytes: stable across runs (unlike `hashValue`), for manifests.
    var stableHash: String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        return String(h, radix: 16)
    }
}
