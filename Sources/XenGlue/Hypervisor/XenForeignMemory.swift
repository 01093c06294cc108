/// Pages of another domain mapped into this process: a resource (ioreq server pages) or
/// guest frames.
public struct XenForeignMapping: @unchecked Sendable {
    // SAFETY (@unchecked): `host` stays mapped until the owner passes this value back to
    // the `XenForeignMemory` that made it; `token` is that implementation's own handle.
    public let host: UnsafeMutableRawPointer
    public let frameCount: Int
    /// Implementation handle (e.g. `xenforeignmemory_resource_handle *`), if any.
    public let token: OpaquePointer?

    public init(host: UnsafeMutableRawPointer, frameCount: Int, token: OpaquePointer? = nil) {
        self.host = host
        self.frameCount = frameCount
        self.token = token
    }
}

/// Foreign-memory mapping (libxenforeignmemory, privcmd).
public protocol XenForeignMemory: AnyObject, Sendable {
    /// Maps an ioreq server's pages (`xenforeignmemory_map_resource` with
    /// `XENMEM_resource_ioreq_server`): frame 0 is the buffered page, frame 1 the
    /// shared per-vCPU page.
    func mapIoreqServerPages(domid: XenDomainID, server: IoreqServerID) throws(XenError) -> XenForeignMapping

    /// Releases a mapping from ``mapIoreqServerPages(domid:server:)``.
    func unmapResource(_ mapping: XenForeignMapping)

    /// Maps `frames` of `domid` read/write, linearly (`xenforeignmemory_map` with an error
    /// array, i.e. privcmd `MMAP_BATCH_V2`). Returns the mapping and, per frame, 0 or the
    /// errno that frame failed with. Throws only when nothing could be attempted.
    func mapGuestFrames(domid: XenDomainID, frames: [XenGuestFrame]) throws(XenError) -> (XenForeignMapping, pageErrors: [Int32])

    /// Releases a mapping from ``mapGuestFrames(domid:frames:)`` (`xenforeignmemory_unmap`).
    func unmapGuestFrames(_ mapping: XenForeignMapping)
}
