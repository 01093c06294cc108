import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A test guest assembled by ``GuestKitBuilder``: Debian's cloud kernel with a busybox
/// initrd carrying the virtio modules, an optional second initrd with `fio` and `iperf3`,
/// and Debian's user-mode Linux kernel with its own initrd.
struct BuiltGuestKit: Sendable {
    let directory: String
    let kernelRelease: String
    let umlRelease: String?
    let hasTools: Bool

    var kernel: String { directory + "/vmlinuz" }
    /// Small initrd: busybox, virtio modules, `/init` (boot timing, most tests).
    var initrd: String { directory + "/initrd.img" }
    /// ``initrd`` followed by a cpio with `fio`, `iperf3` and their libraries.
    var toolsInitrd: String? { hasTools ? directory + "/initrd-tools.img" : nil }
    var umlKernel: String? { umlRelease == nil ? nil : directory + "/linux.uml" }
    var umlInitrd: String? { umlRelease == nil ? nil : directory + "/initrd-uml.img" }

    /// The default location shared by `swiftdm demo`, `swiftdm guest-kit` and the tests.
    static var defaultDirectory: String {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["SWIFTDM_GUEST_KIT"], !dir.isEmpty { return dir }
        let cache = env["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.cache")
        return cache + "/swiftdm/guest-kit"
    }
}

/// Builds a ``BuiltGuestKit`` from Debian packages (`apt-get download`, `dpkg-deb -x`; nothing
/// is installed on the host). Idempotent: a manifest records the inputs (package versions,
/// host tool binaries), and a kit whose inputs have not changed is reused as it is.
/// Concurrent builders (parallel tests, several processes) serialize on a lock file.
struct GuestKitBuilder {
    struct BuildError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    static let formatVersion = 3
    /// Virtio drivers for QEMU's PCI and MMIO transports (dependencies follow automatically).
    static let guestModules = ["virtio_pci", "virtio_mmio", "virtio_blk", "virtio_net", "virtio_console", "virtio_rng"]
    /// UML reaches vhost-user devices through its built-in virtio_uml transport.
    static let umlModules = ["virtio_blk", "virtio_console"]
    static let kernelMetaPackage = "linux-image-cloud-amd64"
    static let tools = ["fio", "iperf3"]

    let outputDirectory: String
    let cacheDirectory: String
    let log: (String) -> Void

    init(outputDirectory: String, cacheDirectory: String? = nil, log: @escaping (String) -> Void) {
        self.outputDirectory = outputDirectory
        self.cacheDirectory = cacheDirectory ?? outputDirectory + "/debs"
        self.log = log
    }

    /// Builds the kit, or returns the existing one when its inputs are unchanged.
    func build() throws -> BuiltGuestKit {
        try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
        let lock = open(outputDirectory + "/.lock", O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard lock >= 0 else { throw BuildError(message: "cannot create \(outputDirectory)/.lock: errno \(errno)") }
        defer { close(lock) }
        while flock(lock, LOCK_EX) != 0 && errno == EINTR {}

        let packages = DebianPackages(cacheDirectory: cacheDirectory)
        let kernelPackage = try packages.dependency(of: Self.kernelMetaPackage, withPrefix: "linux-image-")
        let kernelVersion = try packages.candidateVersion(of: kernelPackage)
        let busyboxVersion = try packages.candidateVersion(of: "busybox-static")
        let umlVersion = try? packages.candidateVersion(of: "user-mode-linux")
        let toolInputs = Self.tools.map { tool -> String in
            guard let path = HostCommand.path(of: tool),
                  let a = try? FileManager.default.attributesOfItem(atPath: path) else { return "\(tool):missing" }
            return "\(tool):\(path):\((a[.size] as? NSNumber)?.intValue ?? 0):\((a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)"
        }
        let inputs = [
            "format=\(Self.formatVersion)",
            "kernel-package=\(kernelPackage)=\(kernelVersion)",
            "busybox-static=\(busyboxVersion)",
            "user-mode-linux=\(umlVersion ?? "unavailable")",
            "tools=\(toolInputs.joined(separator: ","))",
            "init=\(GuestInit.script.hashValueStable)",
        ]
        if let kit = try? existingKit(matching: inputs) {
            log("guest kit in \(outputDirectory) is up to date (\(kit.kernelRelease))")
            return kit
        }

        let work = outputDirectory + "/.work"
        try? FileManager.default.removeItem(atPath: work)
        defer { try? FileManager.default.removeItem(atPath: work) }

        log("fetching \(kernelPackage) \(kernelVersion), busybox-static \(busyboxVersion)" +
            (umlVersion.map { ", user-mode-linux \($0)" } ?? "") + " into \(cacheDirectory)")
        try packages.extract(try packages.fetch(kernelPackage, version: kernelVersion), into: work + "/kernel")
        try packages.extract(try packages.fetch("busybox-static", version: busyboxVersion), into: work + "/busybox")
        let busybox = work + "/busybox/bin/busybox"
        let applets = try HostCommand.run([busybox, "--list"]).split(separator: "\n").map(String.init)

        // Cloud kernel: vmlinuz and the small initrd.
        let releases = try FileManager.default.contentsOfDirectory(atPath: work + "/kernel/lib/modules")
        guard let release = releases.first else { throw BuildError(message: "\(kernelPackage) contains no /lib/modules/<release>") }
        let modules = KernelModules(tree: work + "/kernel/lib/modules/" + release)
        let order = try modules.loadOrder(for: Self.guestModules)
        log("kernel \(release); modules in load order: \(order.joined(separator: " "))")
        try replace(outputDirectory + "/vmlinuz", with: work + "/kernel/boot/vmlinuz-" + release)
        try makeInitrd(at: work + "/initrd.img", busybox: busybox, applets: applets, modules: modules, order: order)
        try replace(outputDirectory + "/initrd.img", with: work + "/initrd.img")

        // fio and iperf3 with their libraries, appended as a second (uncompressed: quick to
        // unpack under TCG) archive.
        var hasTools = false
        if toolInputs.allSatisfy({ !$0.hasSuffix(":missing") }) {
            try makeToolsArchive(at: work + "/tools.cpio")
            let combined = work + "/initrd-tools.img"
            _ = FileManager.default.createFile(atPath: combined, contents: nil)
            let out = try FileHandle(forWritingTo: URL(fileURLWithPath: combined))
            let base = try Data(contentsOf: URL(fileURLWithPath: outputDirectory + "/initrd.img"))
            out.write(base)
            // The kernel looks for the next archive's header at a 4-byte boundary and skips
            // zeros in between (init/initramfs.c); pad the gzip stream to 512 bytes.
            out.write(Data(count: (512 - base.count % 512) % 512))
            out.write(try Data(contentsOf: URL(fileURLWithPath: work + "/tools.cpio")))
            try out.close()
            try replace(outputDirectory + "/initrd-tools.img", with: combined)
            hasTools = true
        } else {
            log("warning: \(Self.tools.joined(separator: "/")) not installed on the host; no initrd-tools.img (install them: apt-get install fio iperf3)")
        }

        // User-mode Linux: its kernel binary and module tree come from one package.
        var umlRelease: String?
        if let umlVersion {
            try packages.extract(try packages.fetch("user-mode-linux", version: umlVersion), into: work + "/uml")
            let umlReleases = try FileManager.default.contentsOfDirectory(atPath: work + "/uml/usr/lib/uml/modules")
            if let r = umlReleases.first {
                let umlModules = KernelModules(tree: work + "/uml/usr/lib/uml/modules/" + r)
                let umlOrder = try umlModules.loadOrder(for: Self.umlModules)
                try makeInitrd(at: work + "/initrd-uml.img", busybox: busybox, applets: applets, modules: umlModules, order: umlOrder)
                try replace(outputDirectory + "/linux.uml", with: work + "/uml/usr/bin/linux.uml")
                try replace(outputDirectory + "/initrd-uml.img", with: work + "/initrd-uml.img")
                umlRelease = r
                log("user-mode Linux \(r); modules: \(umlOrder.joined(separator: " "))")
            }
        }

        let manifest = inputs + [
            "kernel-release=\(release)",
            "uml-release=\(umlRelease ?? "")",
            "tools-initrd=\(hasTools)",
        ]
        try (manifest.joined(separator: "\n") + "\n").write(toFile: outputDirectory + "/kit.manifest", atomically: true, encoding: .utf8)
        log("guest kit ready in \(outputDirectory)")
        return BuiltGuestKit(directory: outputDirectory, kernelRelease: release, umlRelease: umlRelease, hasTools: hasTools)
    }

    /// The kit in the output directory, if its manifest records exactly `inputs` and its files exist.
    private func existingKit(matching inputs: [String]) throws -> BuiltGuestKit? {
        let text = try String(contentsOfFile: outputDirectory + "/kit.manifest", encoding: .utf8)
        let lines = text.split(separator: "\n").map(String.init)
        guard Array(lines.prefix(inputs.count)) == inputs else { return nil }
        var values: [String: String] = [:]
        for l in lines.dropFirst(inputs.count) {
            let parts = l.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { values[parts[0]] = parts[1] } else if parts.count == 1 { values[parts[0]] = "" }
        }
        guard let release = values["kernel-release"] else { return nil }
        let uml = values["uml-release"].flatMap { $0.isEmpty ? nil : $0 }
        let kit = BuiltGuestKit(directory: outputDirectory, kernelRelease: release, umlRelease: uml,
                           hasTools: values["tools-initrd"] == "true")
        let files = [kit.kernel, kit.initrd] + [kit.toolsInitrd, kit.umlKernel, kit.umlInitrd].compactMap { $0 }
        guard files.allSatisfy({ FileManager.default.fileExists(atPath: $0) }) else { return nil }
        return kit
    }

    private func makeInitrd(at path: String, busybox: String, applets: [String], modules: KernelModules, order: [String]) throws {
        let cpioPath = path + ".cpio"
        let cpio = try CpioArchive(writingTo: cpioPath)
        for d in ["bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "run", "etc/swiftdm", "lib/modules"] {
            cpio.directory(d)
        }
        // The kernel opens /dev/console for init before devtmpfs exists.
        cpio.characterDevice("dev/console", major: 5, minor: 1)
        try cpio.copy(hostFile: busybox, to: "bin/busybox")
        for applet in applets where applet != "busybox" {
            cpio.symlink("bin/\(applet)", target: "busybox")
        }
        cpio.file("init", contents: Data(GuestInit.script.utf8), mode: 0o755)
        for name in order {
            cpio.file("lib/modules/\(name).ko", contents: try modules.objectData(name))
        }
        cpio.file(GuestInit.moduleListPath, contents: Data((order.joined(separator: "\n") + "\n").utf8))
        try cpio.finish()
        try HostCommand.run(["gzip", "-n", "-6", "-f", cpioPath])
        try FileManager.default.moveItem(atPath: cpioPath + ".gz", toPath: path)
    }

    private func makeToolsArchive(at path: String) throws {
        let cpio = try CpioArchive(writingTo: path)
        var copied: Set<String> = []
        for tool in Self.tools {
            guard let binary = HostCommand.path(of: tool) else { continue }
            for file in [binary] + (try SharedLibraries.needed(by: binary)) where !copied.contains(file) {
                copied.insert(file)
                let target = file == binary ? "usr/bin/\(tool)" : String(file.dropFirst())
                try cpio.copy(hostFile: file, to: target)
            }
        }
        try cpio.finish()
    }

    /// Moves `source` over `destination` (atomic rename within the output directory).
    private func replace(_ destination: String, with source: String) throws {
        let staged = destination + ".new"
        try? FileManager.default.removeItem(atPath: staged)
        try FileManager.default.copyItem(atPath: source, toPath: staged)
        guard rename(staged, destination) == 0 else { throw BuildError(message: "rename \(staged) → \(destination): errno \(errno)") }
    }
}

extension String {
    /// FNV-1a of the UTF-8 bytes: stable across runs (unlike `hashValue`), for manifests.
    var hashValueStable: String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        return String(h, radix: 16)
    }
}
