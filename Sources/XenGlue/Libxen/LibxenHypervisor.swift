import Logging
#if canImport(Glibc)
import Glibc
#endif

extension XenHypervisor {
    /// Opens the real libxen interfaces (dom0 only).
    ///
    /// Checks for `/dev/xen/privcmd` first so that a host without Xen gets one clear
    /// ``XenError/notRunningOnXen(missing:)`` instead of libxencall's own stderr lines.
    public static func openLibxen(logger: Logger = Logger(label: "swiftdm.xen.libxen")) throws(XenError) -> XenHypervisor {
        guard access(XenGlueInfo.privcmdPath, F_OK) == 0 else {
            throw .notRunningOnXen(missing: XenGlueInfo.privcmdPath)
        }
        let log = LibxenLogger(logger: logger)
        return XenHypervisor(
            control: try LibxenDeviceModelControl(log: log),
            eventChannels: try LibxenEventChannels(log: log),
            foreignMemory: try LibxenForeignMemory(log: log),
            store: try LibxenStore())
    }
}
