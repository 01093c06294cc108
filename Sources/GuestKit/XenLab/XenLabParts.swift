import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The Debian parts of the Xen lab, unpacked in ``directory``: the hypervisor as the ELF QEMU's
/// multiboot loader takes, Debian's standard kernel for dom0 with its modules, Xen's userland
/// and libraries, SeaBIOS, QEMU's Xen build (`qemu-system-xen`, for comparisons) and a static
/// busybox. Made by ``build(in:cacheDirectory:kit:log:)``.
public struct XenLabParts: Sendable {
    /// Packages unpacked into ``tree``, besides the kernel. The `lib*` ones are what the
    /// toolstack links against, fetched so a host without Xen's libraries can still build dom0.
    static let treePackages = [
        "xen-hypervisor-4.17-amd64", "xen-utils-4.17", "xen-utils-common", "xenstore-utils",
        "libxenmisc4.17", "libxencall1", "libxenevtchn1", "libxenforeignmemory1", "libxengnttab1",
        "libxenstore4", "libxentoollog1", "libxendevicemodel1", "libxenhypfs1", "libxentoolcore1",
        "libyajl2", "seabios", "qemu-system-xen",
    ]
    /// Bump when the parts' layout changes.
    static let formatVersion = 1
    static let manifestName = "parts.manifest"

    /// Where the parts are.
    public let directory: String
    /// The dom0 kernel's release, such as `6.1.0-57-amd64`.
    public let kernelRelease: String

    /// Xen 4.17, uncompressed (QEMU's `-kernel` loads its multiboot ELF).
    public var hypervisor: String { directory + "/xen-4.17-amd64" }
    /// Debian's standard kernel (the cloud kernel has no `CONFIG_XEN_DOM0`).
    public var dom0Kernel: String { directory + "/vmlinuz" }
    /// The unpacked Xen userland, SeaBIOS and `qemu-system-xen` (`dpkg-deb -x` of each package).
    var tree: String { directory + "/tree" }
    /// The dom0 kernel's module tree.
    var moduleTree: String { directory + "/kernel/lib/modules/" + kernelRelease }
    /// busybox-static's binary.
    var busybox: String { directory + "/busybox/bin/busybox" }

    /// Fetches (into `cacheDirectory`, shared with the guest kit) and unpacks the parts into
    /// `directory`, or returns the parts already there when their package versions are unchanged.
    /// The dom0 kernel is the standard kernel of `kit`'s ABI (`linux-image-<ABI>-amd64-unsigned`),
    /// or of `linux-image-amd64`'s when the kit's kernel is not a cloud kernel.
    ///
    /// - Throws: ``GuestKitError`` for a package apt cannot fetch; ``XenLabError/partMissing(package:path:)``.
    public static func build(in directory: String, cacheDirectory: String, kit: BuiltGuestKit,
                             log: (String) -> Void = { _ in }) throws -> XenLabParts {
        let lock = try GuestKitBuilder(outputDirectory: directory) { _ in }.lockOutputDirectory()
        defer { close(lock) }
        let packages = DebianPackages(cacheDirectory: cacheDirectory)

        let cloudSuffix = "-cloud-amd64"
        let abi: String
        if kit.kernelRelease.hasSuffix(cloudSuffix) {
            abi = String(kit.kernelRelease.dropLast(cloudSuffix.count))
        } else {
            let standard = try packages.dependency(of: "linux-image-amd64", withPrefix: "linux-image-")
            abi = String(standard.dropFirst("linux-image-".count).dropLast("-amd64".count))
        }
        let kernelPackage = "linux-image-\(abi)-amd64-unsigned"
        let wanted = [kernelPackage, "busybox-static"] + treePackages
        var versions: [String: String] = [:]
        for p in wanted { versions[p] = try packages.candidateVersion(of: p) }
        let inputs = ["format=\(formatVersion)"] + wanted.map { "\($0)=\(versions[$0] ?? "")" }
        let parts = XenLabParts(directory: directory, kernelRelease: abi + "-amd64")
        let manifest = directory + "/" + manifestName
        if let text = try? String(contentsOfFile: manifest, encoding: .utf8), text == inputs.joined(separator: "\n") + "\n",
           FileManager.default.fileExists(atPath: parts.hypervisor), FileManager.default.fileExists(atPath: parts.dom0Kernel) {
            log("Xen lab parts in \(directory) are up to date (dom0 kernel \(parts.kernelRelease))")
            return parts
        }

        try? FileManager.default.removeItem(atPath: manifest)
        for sub in ["tree", "kernel", "busybox"] { try? FileManager.default.removeItem(atPath: directory + "/" + sub) }
        log("fetching \(wanted.count) packages for the Xen lab into \(cacheDirectory)")
        for p in treePackages {
            guard let v = versions[p] else { continue }
            try packages.extract(try packages.fetch(p, version: v), into: parts.tree)
        }
        try packages.extract(try packages.fetch(kernelPackage, version: versions[kernelPackage] ?? ""), into: directory + "/kernel")
        try packages.extract(try packages.fetch("busybox-static", version: versions["busybox-static"] ?? ""), into: directory + "/busybox")

        let compressed = parts.tree + "/boot/xen-4.17-amd64.gz"
        guard FileManager.default.fileExists(atPath: compressed) else {
            throw XenLabError.partMissing(package: "xen-hypervisor-4.17-amd64", path: "boot/xen-4.17-amd64.gz")
        }
        try HostCommand.runData(["gzip", "-dc", compressed]).write(to: URL(fileURLWithPath: parts.hypervisor))
        let vmlinuz = directory + "/kernel/boot/vmlinuz-" + parts.kernelRelease
        guard FileManager.default.fileExists(atPath: vmlinuz) else {
            throw XenLabError.partMissing(package: kernelPackage, path: "boot/vmlinuz-" + parts.kernelRelease)
        }
        try? FileManager.default.removeItem(atPath: parts.dom0Kernel)
        try FileManager.default.copyItem(atPath: vmlinuz, toPath: parts.dom0Kernel)
        try (inputs.joined(separator: "\n") + "\n").write(toFile: manifest, atomically: true, encoding: .utf8)
        log("Xen lab parts ready in \(directory) (dom0 kernel \(parts.kernelRelease))")
        return parts
    }

    /// The default place: `xen-lab` inside the guest kit's directory.
    public static func defaultDirectory(kit: BuiltGuestKit) -> String { kit.directory + "/xen-lab" }
}
