import ArgumentParser

/// The guest-kit, demo, lab and bench commands, in an executable of their own because they need
/// Foundation (processes, files, URLs) and the machine does not: `swiftdm demo`, `swiftdm lab`
/// `swiftdm guest-kit` and `swiftdm bench` hand over to this program (``KitCommandForwarder`` in the launcher),
/// so a running machine never loads Foundation, its internationalisation layer or ICU.
///
/// `SWIFTDM_EXECUTABLE` (set by the launcher) names the `swiftdm` these commands run guests on
/// (and the one `swiftdm bench` measures).
@main
struct SwiftdmKit: ParsableCommand {
    static let configuration = CommandConfiguration(
        // The commands are documented and invoked as `swiftdm …`.
        commandName: "swiftdm",
        abstract: "Test guests, the demo, the nested-KVM lab and the benchmarks (started by `swiftdm demo|lab|guest-kit|bench`).",
        subcommands: [GuestKitBuildCommand.self, DemoCommand.self, LabCommand.self, BenchCommand.self])
}
