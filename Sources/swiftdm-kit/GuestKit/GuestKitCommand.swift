import ArgumentParser
import GuestKit

/// `swiftdm guest-kit`: assembles the test guest from Debian packages (GuestKit's ``GuestKitBuilder``).
struct GuestKitBuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guest-kit",
        abstract: "Assemble a Linux test guest (Debian cloud kernel, busybox initrd with virtio modules, fio, iperf3, user-mode Linux).",
        discussion: """
            Downloads linux-image-*-cloud-amd64, busybox-static and user-mode-linux with `apt-get download` \
            (nothing is installed), and writes vmlinuz, initrd.img, initrd-tools.img, linux.uml and \
            initrd-uml.img into DIR. Re-running with unchanged packages reuses the kit. The guest's /init \
            runs the base64 command in `\(GuestInit.commandParameter)=` on the kernel command line, \
            printing "\(GuestInit.readyMarker)" and "\(GuestInit.exitMarker) status=N", then powers off.
            """)

    @Option(name: .customLong("out"), help: ArgumentHelp("Output directory.", valueName: "DIR"))
    var outputDirectory: String = BuiltGuestKit.defaultDirectory

    @Option(name: .customLong("cache"), help: ArgumentHelp("Where downloaded .debs are kept (default: DIR/debs).", valueName: "DIR"))
    var cacheDirectory: String?

    @Flag(name: .customLong("graphics"), help: "Also build the graphics variant in DIR/graphics (Debian's standard kernel of the same ABI with virtio-gpu, virtio-input and evdev).")
    var graphics = false

    func run() throws {
        let builder = GuestKitBuilder(outputDirectory: outputDirectory, cacheDirectory: cacheDirectory) { line in
            HostOutput.standardError("guest-kit: \(line)\n")
        }
        let kit = try builder.build()
        print("kernel:      \(kit.kernel) (\(kit.kernelRelease))")
        print("initrd:      \(kit.initrd)")
        print("tools:       \(kit.toolsInitrd ?? "(fio/iperf3 not installed on the host)")")
        print("uml kernel:  \(kit.umlKernel.map { "\($0) (\(kit.umlRelease ?? ""))" } ?? "(user-mode-linux unavailable)")")
        print("uml initrd:  \(kit.umlInitrd ?? "-")")
        if graphics {
            let variant = try builder.buildGraphics()
            print("graphics:    \(variant.kernel) (\(variant.kernelRelease))")
            print("             \(variant.initrd)")
        }
    }
}
