import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Debian packages fetched with `apt-get download` into a cache directory and unpacked
/// with `dpkg-deb -x` — never installed on the host.
struct DebianPackages {
    let cacheDirectory: String

    /// The version `apt-get download` would fetch (`apt-cache policy`'s candidate).
    func candidateVersion(of package: String) throws -> String {
        let policy = try HostCommand.run(["apt-cache", "policy", package])
        for line in policy.split(separator: "\n") {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("Candidate:") {
                let v = t.dropFirst("Candidate:".count).trimmingCharacters(in: .whitespaces)
                if v != "(none)" && !v.isEmpty { return v }
            }
        }
        throw GuestKitError.noCandidateVersion(package: package)
    }

    /// The concrete package a meta-package depends on, e.g. `linux-image-cloud-amd64` →
    /// `linux-image-6.1.0-NN-cloud-amd64`.
    func dependency(of metaPackage: String, withPrefix prefix: String) throws -> String {
        let depends = try HostCommand.run(["apt-cache", "depends", metaPackage])
        for line in depends.split(separator: "\n") {
            let t = line.trimmingCharacters(in: .whitespaces)
            guard t.hasPrefix("Depends:") else { continue }
            let name = t.dropFirst("Depends:".count).trimmingCharacters(in: .whitespaces)
            if name.hasPrefix(prefix) && !name.hasPrefix("<") { return name }
        }
        throw GuestKitError.noDependency(metaPackage: metaPackage, prefix: prefix)
    }

    /// The `.deb` of `package` at `version` in the cache, downloading it if needed.
    func fetch(_ package: String, version: String) throws -> String {
        try FileManager.default.createDirectory(atPath: cacheDirectory, withIntermediateDirectories: true)
        let encoded = version.replacingOccurrences(of: ":", with: "%3a")
        if let hit = cached(package, encoded) { return hit }
        // As root apt would drop to `_apt`, which cannot write an arbitrary cache directory;
        // an ordinary user downloads as itself.
        let sandbox = getuid() == 0 ? ["-o", "APT::Sandbox::User=root"] : []
        try HostCommand.run(["apt-get", "download", "-q"] + sandbox + ["\(package)=\(version)"], in: cacheDirectory)
        guard let file = cached(package, encoded) else {
            throw GuestKitError.downloadLeftNoPackage(package: package, version: version, directory: cacheDirectory)
        }
        return file
    }

    /// Unpacks `deb` into `directory` (`dpkg-deb -x`).
    func extract(_ deb: String, into directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try HostCommand.run(["dpkg-deb", "-x", deb, directory])
    }

    private func cached(_ package: String, _ encodedVersion: String) -> String? {
        let prefix = "\(package)_\(encodedVersion)_"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: cacheDirectory)) ?? []
        return names.first { $0.hasPrefix(prefix) && $0.hasSuffix(".deb") }.map { cacheDirectory + "/" + $0 }
    }
}
