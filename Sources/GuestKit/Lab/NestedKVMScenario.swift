/// One L2 run inside the nested-KVM lab: a `swiftdm` command line executed in L1, the files it
/// needs copied in from the host, and shell lines L1 runs after it (the "host side" checks of
/// a scenario, such as hashing a disk image L2 wrote to).
///
/// The lab prints the scenario's console output between markers and records the command's
/// exit status and duration; see ``NestedKVMScenarioResult``.
public struct NestedKVMScenario: Sendable {
    /// A host file copied into L1 as ``LabPaths/file(_:)`` `name`.
    public struct File: Sendable {
        /// The file on the host.
        public var hostPath: String
        /// Its name under `/lab/files` in L1.
        public var name: String

        public init(hostPath: String, name: String) {
            self.hostPath = hostPath
            self.name = name
        }

        /// Where L1 sees it.
        public var labPath: String { LabPaths.file(name) }
    }

    /// Unique within a lab run; letters, digits, `-`, `_` and `.` only (it appears in markers).
    public var name: String
    /// The command L1 runs, starting with ``LabPaths/swiftdm``.
    public var commandLine: [String]
    /// Shell lines L1 runs before the command (such as creating a tap for `--net`).
    public var preparation: String = ""
    /// Files copied into L1 for this scenario.
    public var files: [File]
    /// Shell lines L1 runs once the command has ended; their output belongs to the scenario
    /// (print `key=value` lines and read them with ``NestedKVMScenarioResult/reported(_:)``).
    public var afterwards: String
    /// L1 kills the command after this long (status 137).
    public var timeout: Duration
    /// L1 files (absolute paths without quotes, `$` or spaces, such as a screenshot `swiftdm`
    /// wrote under ``LabPaths/files``) brought back to the host after ``afterwards``, in
    /// ``NestedKVMScenarioResult/files``.
    public var returnedFiles: [String] = []
    /// True when the command boots the lab's L2 graphics kit (``LabPaths/l2GraphicsKitDirectory``),
    /// which the lab must then carry.
    public var usesGraphicsKit = false

    /// A scenario running `commandLine` in L1.
    public init(name: String, commandLine: [String], files: [File] = [], afterwards: String = "",
                timeout: Duration = .seconds(240)) {
        self.name = name
        self.commandLine = commandLine
        self.files = files
        self.afterwards = afterwards
        self.timeout = timeout
    }

    /// A scenario booting the lab's L2 guest kit with `swiftdm run`: `guest` describes the
    /// run as on the host (its `swiftdm` and kit are replaced by the lab's), with its disks
    /// given as `files` (in order, vda, vdb, …; `diskOptions` appended to each, such as
    /// `,readonly=on`). A guest on the graphics kit boots the lab's L2 graphics kit.
    public static func guest(name: String, _ guest: SwiftdmRunGuest, disks: [File] = [], diskOptions: [String] = [],
                             afterwards: String = "", returning returnedFiles: [String] = [],
                             timeout: Duration = .seconds(240)) -> NestedKVMScenario {
        var inner = guest
        inner.swiftdm = LabPaths.swiftdm
        let graphics = guest.kit.variant == .graphics
        inner.kit = BuiltGuestKit(directory: graphics ? LabPaths.l2GraphicsKitDirectory : LabPaths.l2KitDirectory,
                                  kernelRelease: guest.kit.kernelRelease, umlRelease: nil, hasTools: !graphics,
                                  variant: guest.kit.variant)
        inner.disks = disks.enumerated().map { i, d in d.labPath + (i < diskOptions.count ? diskOptions[i] : "") }
        var scenario = NestedKVMScenario(name: name, commandLine: inner.commandLine(), files: disks,
                                         afterwards: afterwards, timeout: timeout)
        scenario.returnedFiles = returnedFiles
        scenario.usesGraphicsKit = graphics
        return scenario
    }
}
