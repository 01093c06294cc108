import CXen
import DeviceModel
import XenGlue
#if canImport(Glibc)
import Glibc
#endif

/// Foreign memory on a ``SimulatedXen``: `map_resource` maps the server's own page
/// frames (its memfd) a second time; guest-frame mapping reserves an address range and
/// maps each run of RAM frames from the RAM memfd into it, reporting frames outside RAM
/// (`EINVAL`) or with an injected failure per page, as privcmd's `MMAP_BATCH_V2` does.
public final class SimulatedForeignMemory: XenForeignMemory, @unchecked Sendable {
    // SAFETY (@unchecked): stateless apart from the (thread-safe) simulation.
    let xen: SimulatedXen
    private static let page = Int(SWIFTDM_XEN_PAGE_SIZE)

    init(xen: SimulatedXen) { self.xen = xen }

    public func mapIoreqServerPages(domid: XenDomainID, server: IoreqServerID) throws(XenError) -> XenForeignMapping {
        let function = "xenforeignmemory_map_resource(ioreq_server)"
        if let e = xen.missingDomain(domid) { throw .callFailed(function: function, domid: domid, errno: e) }
        if let e = xen.injectedFailure("xenforeignmemory_map_resource") { throw .callFailed(function: function, domid: domid, errno: e) }
        guard let fd = xen.state.withLock({ $0.servers[server]?.pagesFD }) else {
            throw .callFailed(function: function, domid: domid, errno: ENOENT)
        }
        guard let p = mmap(nil, 2 * Self.page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            throw .callFailed(function: function, domid: domid, errno: errno)
        }
        return XenForeignMapping(host: p, frameCount: 2)
    }

    public func unmapResource(_ mapping: XenForeignMapping) {
        munmap(mapping.host, mapping.frameCount * Self.page)
    }

    public func mapGuestFrames(domid: XenDomainID, frames: [XenGuestFrame]) throws(XenError) -> (XenForeignMapping, pageErrors: [Int32]) {
        if let e = xen.missingDomain(domid) { throw .callFailed(function: "xenforeignmemory_map", domid: domid, errno: e) }
        if let e = xen.injectedFailure("xenforeignmemory_map") { throw .callFailed(function: "xenforeignmemory_map", domid: domid, errno: e) }
        guard !frames.isEmpty else { throw .callFailed(function: "xenforeignmemory_map", domid: domid, errno: EINVAL) }
        let (length, overflow) = frames.count.multipliedReportingOverflow(by: Self.page)
        guard !overflow else { throw .callFailed(function: "xenforeignmemory_map", domid: domid, errno: ENOMEM) }
        guard let base = mmap(nil, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0), base != MAP_FAILED else {
            throw .callFailed(function: "xenforeignmemory_map", domid: domid, errno: errno)
        }
        let failing = xen.state.withLock { $0.failingFrames }
        var errors = [Int32](repeating: 0, count: frames.count)
        var i = 0
        while i < frames.count {
            if let e = failing[frames[i]] {
                errors[i] = e
                i += 1
                continue
            }
            guard let offset = xen.ram.fileOffset(ofFrame: frames[i]) else {
                errors[i] = EINVAL
                i += 1
                continue
            }
            // Extend the run while frames stay consecutive in the file.
            var run = 1
            while i + run < frames.count, failing[frames[i + run]] == nil,
                  let next = xen.ram.fileOffset(ofFrame: frames[i + run]), next == offset + UInt64(run * Self.page) {
                run += 1
            }
            let p = mmap(base + i * Self.page, run * Self.page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, xen.ram.fd, off_t(offset))
            if p == MAP_FAILED {
                let e = errno
                for j in i..<(i + run) { errors[j] = e }
            }
            i += run
        }
        return (XenForeignMapping(host: base, frameCount: frames.count), errors)
    }

    public func unmapGuestFrames(_ mapping: XenForeignMapping) {
        munmap(mapping.host, mapping.frameCount * Self.page)
    }
}
