import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Builds a ``BuiltGuestKit`` from Debian packages (`apt-get download`, `dpkg-deb -x`; nothing
/// is installed on the host). Idempotent: a manifest records the inputs (package versions,
/// host tool binaries, the module list, the init script and power-button handler), and a kit
/// whose inputs have not changed is reused as it is. Concurrent builders (parallel tests,
/// several processes) serialize on a lock file.
public struct GuestKitBuilder {
    static let formatVersion = 7
    /// Virtio drivers for QEMU's PCI and MMIO transports (dependencies follow automatically),
    /// the pvpanic driver for ACPI `QEMU0001`, so a panic ends a swiftdm or QEMU run, and what
    /// the power button needs (``GuestPowerButton/modules``).
    static let guestModules = ["virtio_pci", "virtio_mmio", "virtio_blk", "virtio_net", "virtio_console", "virtio_rng", "pvpanic_mmio"]
        + GuestPowerButton.modules
    /// UML reaches vhost-user devices through its built-in virtio_uml transport.
    static let umlModules = ["virtio_blk", "virtio_console"]
    static let kernelMetaPackage = "linux-image-cloud-amd64"
    static let tools = ["fio", "iperf3"]

    /// Where the kit is written.
    public let outputDirectory: String
    /// Where downloaded `.deb` files are kept.
    public let cacheDirectory: String
    let log: (String) -> Void

    /// - Parameters:
    ///   - outputDirectory: Where the kit is written (see ``BuiltGuestKit/defaultDirectory``).
    ///   - cacheDirectory: Where downloaded `.deb` files are kept; `outputDirectory/debs` when `nil`.
    ///   - log: Receives one line per step (what is fetched, the module load order, warnings).
    public init(outputDirectory: String, cacheDirectory: String? = nil, log: @escaping (String) -> Void) {
        self.outputDirectory = outputDirectory
        self.cacheDirectory = cacheDirectory ?? outputDirectory + "/debs"
        self.log = log
    }

    /// Builds the kit, or returns the existing one when its inputs are unchanged.
    ///
    /// - Throws: ``GuestKitError`` naming the package, module, tool or path that failed.
    public func build() throws -> BuiltGuestKit {
        let lock = try lockOutputDirectory()
        defer { close(lock) }

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
            "modules=\(Self.guestModules.joined(separator: ","))",
            "init=\(GuestInit.script.stableHash)",
            "power-button=\(GuestPowerButton.handler.stableHash)",
        ]
        if let kit = GuestKitManifest.existingKit(in: outputDirectory, matching: inputs) {
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
        guard let release = releases.first else { throw GuestKitError.kernelPackageWithoutModules(package: kernelPackage) }
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

        let manifest = GuestKitManifest(inputs: inputs, kernelRelease: release, umlRelease: umlRelease, hasTools: hasTools)
        try manifest.write(into: outputDirectory)
        log("guest kit ready in \(outputDirectory)")
        return BuiltGuestKit(directory: outputDirectory, kernelRelease: release, umlRelease: umlRelease, hasTools: hasTools)
    }

    /// Creates the output directory and takes its lock file (`flock`, exclusive), which
    /// serializes concurrent builders; the lock lasts until the returned descriptor is closed.
    func lockOutputDirectory() throws -> Int32 {
        try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
        let lockPath = outputDirectory + "/.lock"
        let lock = open(lockPath, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard lock >= 0 else { throw GuestKitError.systemCallFailed(call: "open", path: lockPath, errno: errno) }
        while flock(lock, LOCK_EX) != 0 && errno == EINTR {}
        return lock
    }

    /// Writes a gzip-compressed initrd: busybox with its applets, ``GuestInit``'s `/init`,
    /// ``GuestPowerButton``'s handler, the modules in `order` with their list, and `extraFiles`
    /// (path in the archive, contents, mode; executables such as ``DisplayProbe/script``).
    func makeInitrd(at path: String, busybox: String, applets: [String], modules: KernelModules, order: [String],
                    extraFiles: [(path: String, contents: Data, mode: UInt32)] = []) throws {
        let cpioPath = path + ".cpio"
        let cpio = try CpioArchive(writingTo: cpioPath)
        for d in ["bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "run", "etc/swiftdm", "etc/acpi", "etc/acpi/PWRF", "lib/modules"] {
            cpio.directory(d)
        }
        // The kernel opens /dev/console for init before devtmpfs exists.
        cpio.characterDevice("dev/console", major: 5, minor: 1)
        try cpio.copy(hostFile: busybox, to: "bin/busybox")
        for applet in applets where applet != "busybox" {
            cpio.symlink("bin/\(applet)", target: "busybox")
        }
        cpio.file("init", contents: Data(GuestInit.script.utf8), mode: 0o755)
        cpio.file(BootCompleteProgram.path, contents: BootCompleteProgram.elf, mode: 0o755)
        cpio.file(GuestPowerButton.handlerPath, contents: Data(GuestPowerButton.handler.utf8), mode: 0o755)
        for name in order {
            cpio.file("lib/modules/\(name).ko", contents: try modules.objectData(name))
        }
        cpio.file(GuestInit.moduleListPath, contents: Data((order.joined(separator: "\n") + "\n").utf8))
        for f in extraFiles { cpio.file(String(f.path.drop { $0 == "/" }), contents: f.contents, mode: f.mode) }
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
    func replace(_ destination: String, with source: String) throws {
        let staged = destination + ".new"
        try? FileManager.default.removeItem(atPath: staged)
        try FileManager.default.copyItem(atPath: source, toPath: staged)
        guard rename(staged, destination) == 0 else {
            throw GuestKitError.systemCallFailed(call: "rename", path: "\(staged) → \(destination)", errno: errno)
        }
    }
}
