import CXen
#if canImport(Glibc)
import Glibc
#endif

/// ``XenForeignMemory`` over libxenforeignmemory (privcmd).
public final class LibxenForeignMemory: XenForeignMemory, @unchecked Sendable {
    // SAFETY (@unchecked): libxenforeignmemory calls are ioctls/mmaps on the privcmd fd
    // and safe from several threads; `handle` is immutable until deinit.
    private let handle: OpaquePointer
    private let log: LibxenLogger

    init(log: LibxenLogger) throws(XenError) {
        guard let h = xenforeignmemory_open(log.pointer, 0) else {
            throw .callFailed(function: "xenforeignmemory_open", domid: nil, errno: errno)
        }
        handle = h
        self.log = log
    }

    deinit { xenforeignmemory_close(handle) }

    public func mapIoreqServerPages(domid: XenDomainID, server: IoreqServerID) throws(XenError) -> XenForeignMapping {
        var address: UnsafeMutableRawPointer?
        // Frame 0 = XENMEM_resource_ioreq_server_frame_bufioreq, frame 1 = frame_ioreq(0).
        guard let resource = xenforeignmemory_map_resource(
            handle, domid, UInt32(XENMEM_resource_ioreq_server), UInt32(server), 0, 2,
            &address, PROT_READ | PROT_WRITE, 0), let address
        else {
            throw .callFailed(function: "xenforeignmemory_map_resource(ioreq_server)", domid: domid, errno: errno)
        }
        return XenForeignMapping(host: address, frameCount: 2, token: resource)
    }

    public func unmapResource(_ mapping: XenForeignMapping) {
        if let token = mapping.token { xenforeignmemory_unmap_resource(handle, token) }
    }

    public func mapGuestFrames(domid: XenDomainID, frames: [XenGuestFrame]) throws(XenError) -> (XenForeignMapping, pageErrors: [Int32]) {
        let pfns = frames.map { xen_pfn_t($0) }
        var errors = [Int32](repeating: 0, count: frames.count)
        let p = pfns.withUnsafeBufferPointer { arr in
            errors.withUnsafeMutableBufferPointer { err in
                xenforeignmemory_map(handle, UInt32(domid), PROT_READ | PROT_WRITE, arr.count, arr.baseAddress, err.baseAddress)
            }
        }
        guard let p else { throw .callFailed(function: "xenforeignmemory_map", domid: domid, errno: errno) }
        // The kernel reports per-page failures as -errno; normalise to positive errno.
        return (XenForeignMapping(host: p, frameCount: frames.count), errors.map { $0 == Int32.min ? EINVAL : abs($0) })
    }

    public func unmapGuestFrames(_ mapping: XenForeignMapping) {
        xenforeignmemory_unmap(handle, mapping.host, mapping.frameCount)
    }
}
