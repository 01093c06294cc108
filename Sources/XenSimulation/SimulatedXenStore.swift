import XenGlue
#if canImport(Glibc)
import Glibc
#endif

/// The Xen store of a ``SimulatedXen``; the device model runs in domain 0, so relative
/// paths live under `/local/domain/0/`.
public final class SimulatedXenStore: XenStore, @unchecked Sendable {
    // SAFETY (@unchecked): the tree lives in the simulation's locked state.
    let xen: SimulatedXen

    init(xen: SimulatedXen) { self.xen = xen }

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : "/local/domain/0/" + path
    }

    public func write(_ value: String, at path: String) throws(XenError) {
        if let e = xen.injectedFailure("xs_write") { throw .callFailed(function: "xs_write(\(path))", domid: nil, errno: e) }
        xen.state.withLock { $0.store[Self.absolute(path)] = value }
    }

    public func read(_ path: String) throws(XenError) -> String? {
        if let e = xen.injectedFailure("xs_read") { throw .callFailed(function: "xs_read(\(path))", domid: nil, errno: e) }
        return xen.state.withLock { $0.store[Self.absolute(path)] }
    }
}
