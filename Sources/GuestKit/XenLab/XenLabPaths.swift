/// Where the Xen lab puts things in dom0. Scenario scripts and guest configurations name these
/// paths, since they run in dom0, not on the host.
public enum XenLabPaths {
    /// The `swiftdm` executable (stripped); its libraries sit at the paths `ldd` printed on the host.
    public static let swiftdm = "/usr/local/bin/swiftdm"
    /// QEMU's Xen build (Debian's `qemu-system-xen`), libxl's default device model.
    public static let qemuXen = "/usr/libexec/xen-qemu-system-i386"
    /// Where a scenario's files land: `/root/NAME`, writable (dom0's root is a RAM file system),
    /// so what a guest writes stays there for the scenario's checks.
    public static func file(_ name: String) -> String { "/root/\(name)" }
    /// libxl's log of a device model's standard output and error, for domain `name`.
    public static func deviceModelLog(_ name: String) -> String { "/var/log/xen/qemu-dm-\(name).log" }
    /// The lab's scripts.
    static let directory = "/lab"
    /// The scenario runner dom0's `/init` executes.
    static let runner = "/lab/run.sh"
    /// Shell functions every scenario script can call (``XenLabScripts/functions``).
    static let functions = "/lab/functions.sh"
    /// One scenario's script.
    static func scenarioScript(_ name: String) -> String { "/lab/scenario-\(name).sh" }
    /// The ordered kernel-module list dom0's `/init` loads.
    static let moduleList = "/lab/modules"
}
