import ArgumentParser
import DeviceModel
#if canImport(Glibc)
import Glibc
#endif

@main
struct Swiftdm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftdm",
        abstract: "A virtual-machine device model: virtio devices on KVM, Xen or vhost-user.",
        version: DeviceModelInfo.version,
        subcommands: [Run.self, XenCommand.self, VhostUserCommand.self, QMPCommand.self, ScreenshotCommand.self, GuestKitForwarder.self, DemoForwarder.self, LabForwarder.self, BenchForwarder.self])

    static func main() {
        let arguments = ProcessArguments.current
        guard !arguments.isEmpty else {
            // Neither /proc/self/cmdline nor the captured argv: refuse rather than guess.
            printToStandardError("swiftdm: cannot read the command line (is /proc mounted?)")
            Glibc.exit(2)
        }
        let rest = Array(arguments.dropFirst())
        // libxl spawns its device model with QEMU's command line (`-xen-domid D …`).
        if XenDeviceModelOptions.looksLikeQEMUArguments(rest) { XenDeviceModelRun.main(rest) }
        main(rest)
    }
}
