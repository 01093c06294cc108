/// One piece of work in the Xen lab: a shell script dom0 runs (as root, in `/root`, with the
/// lab's functions loaded: ``XenLabScripts/functions``), the host files it needs copied into
/// dom0, and how long it may take.
///
/// The lab prints the script's output between markers and records its exit status and
/// duration; see ``XenLabScenarioResult``. Print `key=value` lines for the host to read with
/// ``XenLabScenarioResult/reported(_:)``.
public struct XenLabScenario: Sendable {
    /// A host file copied into dom0 as ``XenLabPaths/file(_:)`` `name`.
    public struct File: Sendable, Hashable {
        /// The file on the host.
        public var hostPath: String
        /// Its name under `/root` in dom0.
        public var name: String

        public init(hostPath: String, name: String) {
            self.hostPath = hostPath
            self.name = name
        }

        /// Where dom0 sees it.
        public var dom0Path: String { XenLabPaths.file(name) }
    }

    /// Unique within a lab run; letters, digits, `-`, `_` and `.` only (it appears in markers).
    public var name: String
    /// The shell script dom0 runs; its standard input is `/dev/null`.
    public var script: String
    /// Files copied into dom0 for this scenario.
    public var files: [File]
    /// dom0 kills the script's process group after this long (status 137), then destroys the
    /// domains it left.
    public var timeout: Duration

    public init(name: String, script: String, files: [File] = [], timeout: Duration = .seconds(180)) {
        self.name = name
        self.script = script
        self.files = files
        self.timeout = timeout
    }
}
