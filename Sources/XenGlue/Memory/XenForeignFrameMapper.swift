import DeviceModel

/// ``GuestFrameMapper`` over Xen foreign memory: maps a domain's guest frames with
/// `xenforeignmemory_map`, reporting failures per page (privcmd `MMAP_BATCH_V2`).
public final class XenForeignFrameMapper: GuestFrameMapper {
    public let foreignMemory: any XenForeignMemory
    public let domid: XenDomainID

    public init(foreignMemory: any XenForeignMemory, domid: XenDomainID) {
        self.foreignMemory = foreignMemory
        self.domid = domid
    }

    public func map(firstFrame: UInt64, count: Int) throws(GuestMemoryError) -> GuestFrameMapping {
        let frames = (0..<max(0, count)).map { firstFrame &+ UInt64($0) }
        do {
            let (mapping, errors) = try foreignMemory.mapGuestFrames(domid: domid, frames: frames)
            return GuestFrameMapping(firstFrame: firstFrame, host: mapping.host, pageErrors: errors)
        } catch {
            throw .mappingFailed(gpa: firstFrame << 12, errno: error.errno ?? 0)
        }
    }

    public func unmap(_ mapping: GuestFrameMapping) {
        foreignMemory.unmapGuestFrames(XenForeignMapping(host: mapping.host, frameCount: mapping.frameCount))
    }
}

extension XenError {
    /// The errno of a failed call, if this error carries one.
    public var errno: Int32? {
        if case .callFailed(_, _, let e) = self { return e }
        return nil
    }
}
