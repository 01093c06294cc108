import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension GuestKitBuilder {
    /// Display and input drivers the graphics kit loads after the usual virtio ones: `evdev`
    /// (so `/dev/input/event*` exist), `virtio_gpu` (DRM; its fbdev emulation gives fbcon,
    /// built into Debian's kernel, `/dev/fb0` to draw the console on) and `virtio_input`.
    static let graphicsModules = ["evdev", "virtio_gpu", "virtio_input"]

    /// The graphics variant's input format; bump it when the variant's layout changes.
    static let graphicsFormatVersion = 1

    /// Builds the graphics variant of the kit (``BuiltGuestKit/Variant/graphics``) in
    /// `outputDirectory/graphics`, or returns the existing one when its inputs are unchanged.
    ///
    /// Debian's cloud kernel has no DRM or virtio-input drivers, so this kit boots Debian's
    /// standard kernel of the cloud kernel's ABI (`linux-image-6.1.0-NN-amd64` next to
    /// `linux-image-6.1.0-NN-cloud-amd64`), fetched and cached like the rest of the kit, with an
    /// initrd whose `/init` (``GuestInit``) loads the kit's virtio drivers, then ``graphicsModules``
    /// with their dependencies (from each module's `depends=`: the package carries no
    /// `modules.dep`, which `depmod` writes at installation), and ``DisplayProbe``'s script.
    /// The standard kit is not touched.
    ///
    /// - Throws: ``GuestKitError`` naming the package, module or path that failed.
    public func buildGraphics() throws -> BuiltGuestKit {
        let lock = try lockOutputDirectory()
        defer { close(lock) }

        let directory = outputDirectory + "/" + BuiltGuestKit.graphicsSubdirectory
        let packages = DebianPackages(cacheDirectory: cacheDirectory)
        let cloudPackage = try packages.dependency(of: Self.kernelMetaPackage, withPrefix: "linux-image-")
        let cloudSuffix = "-cloud-amd64"
        guard cloudPackage.hasSuffix(cloudSuffix) else { throw GuestKitError.noStandardKernel(cloudPackage: cloudPackage) }
        let kernelPackage = String(cloudPackage.dropLast(cloudSuffix.count)) + "-amd64"
        guard let kernelVersion = try? packages.candidateVersion(of: kernelPackage) else {
            throw GuestKitError.noStandardKernel(cloudPackage: cloudPackage)
        }
        let busyboxVersion = try packages.candidateVersion(of: "busybox-static")
        let wanted = Self.guestModules + Self.graphicsModules
        let inputs = [
            "graphics-format=\(Self.graphicsFormatVersion)",
            "kernel-package=\(kernelPackage)=\(kernelVersion)",
            "busybox-static=\(busyboxVersion)",
            "modules=\(wanted.joined(separator: ","))",
            "init=\(GuestInit.script.stableHash)",
            "power-button=\(GuestPowerButton.handler.stableHash)",
            "display-probe=\(DisplayProbe.script.stableHash)",
        ]
        if let kit = GuestKitManifest.existingKit(in: directory, matching: inputs, variant: .graphics) {
            log("graphics guest kit in \(directory) is up to date (\(kit.kernelRelease))")
            return kit
        }

        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let work = outputDirectory + "/.work-graphics"
        try? FileManager.default.removeItem(atPath: work)
        defer { try? FileManager.default.removeItem(atPath: work) }

        log("fetching \(kernelPackage) \(kernelVersion), busybox-static \(busyboxVersion) into \(cacheDirectory)")
        try packages.extract(try packages.fetch(kernelPackage, version: kernelVersion), into: work + "/kernel")
        try packages.extract(try packages.fetch("busybox-static", version: busyboxVersion), into: work + "/busybox")
        let busybox = work + "/busybox/bin/busybox"
        let applets = try HostCommand.run([busybox, "--list"]).split(separator: "\n").map(String.init)

        let releases = try FileManager.default.contentsOfDirectory(atPath: work + "/kernel/lib/modules")
        guard let release = releases.first else { throw GuestKitError.kernelPackageWithoutModules(package: kernelPackage) }
        let modules = KernelModules(tree: work + "/kernel/lib/modules/" + release)
        let order = try modules.loadOrder(for: wanted)
        log("graphics kernel \(release); modules in load order: \(order.joined(separator: " "))")
        try replace(directory + "/vmlinuz", with: work + "/kernel/boot/vmlinuz-" + release)
        try makeInitrd(at: work + "/initrd.img", busybox: busybox, applets: applets, modules: modules, order: order,
                       extraFiles: [(DisplayProbe.path, Data(DisplayProbe.script.utf8), 0o755)])
        try replace(directory + "/initrd.img", with: work + "/initrd.img")

        let manifest = GuestKitManifest(inputs: inputs, kernelRelease: release, umlRelease: nil, hasTools: false)
        try manifest.write(into: directory)
        log("graphics guest kit ready in \(directory)")
        return BuiltGuestKit(directory: directory, kernelRelease: release, umlRelease: nil, hasTools: false, variant: .graphics)
    }
}
