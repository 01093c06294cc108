#if canImport(Glibc)
import Glibc
#endif

/// What `swiftdm demo` does: real Linux on swiftdm's devices, end to end.
///
/// Builds (or reuses) the guest kit and a scratch disk. Where the host's KVM runs unmodified
/// guests natively, the kit boots on swiftdm's own KVM machine (`swiftdm run --kernel`) with
/// swiftdm's virtio-blk, virtio-rng and virtio-console; with ``onSwiftdmKVM`` it does so
/// elsewhere too, inside the nested-KVM lab. Otherwise (no KVM, or PVM) swiftdm
/// serves the same devices as `swiftdm vhost-user` backends: Debian's cloud kernel boots under
/// QEMU with the disk and the entropy device, and Debian's user-mode Linux with the disk and
/// the console (QEMU 7.2 has no vhost-user console frontend; UML's virtio_uml attaches any
/// device type). Each guest writes, reads back and checksums the disk; the host compares.
public struct DemoScenario: Sendable {
    /// Scratch disk sizes the demo accepts, in MiB.
    public static let diskSizeRange = 16...4096

    /// Guest kit directory (built there if needed).
    public var kitDirectory: String
    /// Size of the scratch disk in MiB, within ``diskSizeRange``.
    public var diskMiB: Int
    /// The `swiftdm` executable that serves the devices (`swiftdm run`, `swiftdm vhost-user`).
    public var swiftdm: String
    /// Receives the guests' consoles and the backends' logs as they arrive; `nil` keeps them quiet.
    public var echo: (@Sendable (String) -> Void)?
    /// Boot the guest on swiftdm's own KVM machine even where the host's KVM cannot run Linux
    /// natively (PVM, no `/dev/kvm`): through the nested-KVM lab (`swiftdm demo --kvm`).
    public var onSwiftdmKVM = false

    /// A demo on `swiftdm` with the kit in `kitDirectory` and a `diskMiB` MiB scratch disk.
    public init(kitDirectory: String = BuiltGuestKit.defaultDirectory, diskMiB: Int = 64,
                swiftdm: String = SwiftdmRunGuest.currentExecutable, echo: (@Sendable (String) -> Void)? = nil) {
        self.kitDirectory = kitDirectory
        self.diskMiB = diskMiB
        self.swiftdm = swiftdm
        self.echo = echo
    }

    /// Runs the demo, passing each line of its report to `report` as it happens: `== step`
    /// headings, then indented lines saying what the guests saw and how long it took.
    ///
    /// Ignores SIGPIPE for the whole process: a guest or backend that exits early must not
    /// end the demo while it still writes to it.
    ///
    /// - Throws: ``GuestKitError`` when a tool is missing, a guest does not finish, or what the
    ///   guests report differs from what the host sees (``GuestKitError/resultsMismatch(checks:)``).
    public func run(report: (String) -> Void) throws {
        guard Self.diskSizeRange.contains(diskMiB) else { throw GuestKitError.diskSizeOutOfRange(mebibytes: diskMiB) }
        signal(SIGPIPE, SIG_IGN)
        let started = ContinuousClock.now
        let native = HostVirtualization.runsUnmodifiedGuestsNatively
        if !native { try HostCommand.require("qemu-system-x86_64", package: "qemu-system-x86") }

        report("== guest kit")
        let kitStart = ContinuousClock.now
        // The builder keeps its log closure, but only while `build()` runs.
        let kit = try withoutActuallyEscaping(report) { report in
            try GuestKitBuilder(outputDirectory: kitDirectory) { report("   \($0)") }.build()
        }
        report("   Debian \(kit.kernelRelease) in \(kitDirectory) (\(Self.format(ContinuousClock.now - kitStart)))")

        let disk = try DemoDisk(mebibytes: diskMiB)
        defer { disk.remove() }
        if native || onSwiftdmKVM {
            try runOnSwiftdmKVM(kit: kit, disk: disk, nested: !native, report: report)
        } else {
            try runOnVhostUser(kit: kit, disk: disk, report: report)
        }
        report("== total \(Self.format(ContinuousClock.now - started))")
    }

    static func format(_ d: Duration) -> String { String(format: "%.1f s", d.seconds) }
}
