import ArgumentParser
import DeviceModel

@main
struct Swiftdm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftdm",
        abstract: "A virtual-machine device model: virtio devices on KVM, Xen or vhost-user.",
        version: DeviceModelInfo.version,
        subcommands: [Run.self, XenCommand.self, VhostUserCommand.self, GuestKitBuildCommand.self, DemoCommand.self])
}
