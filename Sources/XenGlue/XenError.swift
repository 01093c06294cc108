#if canImport(Glibc)
import Glibc
#endif
import DeviceModel

/// Why setting up or driving the Xen side failed (hypervisor calls, attachment).
public enum XenError: Error, Equatable, CustomStringConvertible {
    /// This host has no Xen control interface (no `/dev/xen/privcmd`): not a Xen dom0.
    case notRunningOnXen(missing: String)
    /// A libxen (or simulated) call failed with `errno`.
    case callFailed(function: String, domid: XenDomainID?, errno: Int32)
    /// The domain has more vCPUs than one shared ioreq page has slots for.
    case tooManyVCPUs(count: Int, slots: Int)
    /// The domain reports no vCPUs.
    case noVCPUs(domid: XenDomainID)
    /// The server was created without buffered ioreqs but the caller needs them, or
    /// the hypervisor returned no buffered event channel.
    case noBufferedIoreq(server: IoreqServerID)
    /// An argument outside what the Xen interface can express.
    case invalidArgument(what: String, value: UInt64)
    /// The ioreq server's I/O thread could not start.
    case eventLoop(EventLoopError)
    /// The server was already stopped.
    case stopped

    public var description: String {
        switch self {
        case .notRunningOnXen(let missing):
            "not running on Xen: \(missing) does not exist (swiftdm xen needs a Xen dom0)"
        case .callFailed(let function, let domid, let e):
            "\(function)\(domid.map { " for domain \($0)" } ?? "") failed: \(Self.errnoText(e))"
        case .tooManyVCPUs(let count, let slots):
            "domain has \(count) vCPUs but the shared ioreq page has \(slots) slots"
        case .noVCPUs(let domid):
            "domain \(domid) reports no vCPUs"
        case .noBufferedIoreq(let server):
            "ioreq server \(server) has no buffered ioreq page or event channel"
        case .invalidArgument(let what, let value):
            "invalid \(what): 0x\(String(value, radix: 16))"
        case .eventLoop(let e):
            "\(e)"
        case .stopped:
            "the ioreq server is stopped"
        }
    }

    /// "Permission denied (errno 13)".
    static func errnoText(_ e: Int32) -> String {
        guard let s = strerror(e) else { return "errno \(e)" }
        return "\(String(cString: s)) (errno \(e))"
    }
}
