import ArgumentParser
import GuestKit

/// `swiftdm demo`: real Linux on swiftdm's devices, end to end, in one command (GuestKit's
/// ``DemoScenario``: on this host's KVM when it runs unmodified guests natively, else as
/// vhost-user backends under QEMU and user-mode Linux).
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Boot Linux guests on swiftdm's virtio-blk, virtio-rng and virtio-console and report what they saw.",
        discussion: """
            On a host whose KVM runs unmodified guests natively, the guest kit boots on `swiftdm run`; \
            with --kvm it does so elsewhere too, on a KVM nested inside QEMU TCG (the lab). \
            Otherwise swiftdm serves the devices as `swiftdm vhost-user` backends to Debian's kernel \
            under QEMU and to Debian's user-mode Linux.
            """)

    @Option(name: .customLong("kit"), help: ArgumentHelp("Guest kit directory (built if needed).", valueName: "DIR"))
    var kitDirectory: String = BuiltGuestKit.defaultDirectory

    @Option(name: .customLong("disk-mib"), help: "Size of the scratch disk in MiB.")
    var diskMiB = 64

    @Flag(name: .shortAndLong, help: "Show the guests' consoles and the backends' logs.")
    var verbose = false

    @Flag(help: "Boot the guest on swiftdm's own KVM even where this host's KVM cannot run Linux (through the nested-KVM lab).")
    var kvm = false

    func validate() throws {
        let range = DemoScenario.diskSizeRange
        guard range.contains(diskMiB) else { throw ValidationError("--disk-mib must be \(range.lowerBound)...\(range.upperBound)") }
    }

    func run() throws {
        var demo = DemoScenario(kitDirectory: kitDirectory, diskMiB: diskMiB, swiftdm: SwiftdmRunGuest.currentExecutable,
                                echo: verbose ? HostOutput.standardError : nil)
        demo.onSwiftdmKVM = kvm
        try demo.run { line in HostOutput.standardOutput(line + "\n") }
    }
}
