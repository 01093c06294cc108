import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// With `SWIFTDM_XEN_SIM_STATS=<path>` in the environment, the ioreq server's counters are
/// written to that file when swiftdm exits — tests check that the guest's I/O really took
/// the ioreq path.
public enum XenSimulationReport {
    public static let variable = "SWIFTDM_XEN_SIM_STATS"
    private static let domain = Mutex<SimulatedXenDomain?>(nil)

    static func install(_ d: SimulatedXenDomain) {
        guard getenv(variable) != nil else { return }
        let first = domain.withLock { current in
            defer { current = d }
            return current == nil
        }
        if first { atexit { XenSimulationReport.write() } }
    }

    static func write() {
        guard let path = getenv(variable).map({ String(cString: $0) }), !path.isEmpty,
              let d = domain.withLock({ $0 }) else { return }
        let s = d.server.statistics
        let line = "pio=\(s.portIO) mmio=\(s.memory) pcicfg=\(s.pciConfig) buffered=\(s.buffered) faults=\(s.faults) "
            + "unclaimed=\(d.xen.unclaimedAccesses) interrupts=\(d.xen.interruptCount) msis=\(d.xen.msiCount)\n"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        _ = line.withCString { Glibc.write(fd, $0, strlen($0)) }
        close(fd)
    }
}
