import DeviceModel
import XenGlue

extension SharedGuestRAM {
    /// Where frame `gfn` lives in the memfd, or `nil` when it is not RAM.
    public func fileOffset(ofFrame gfn: XenGuestFrame) -> UInt64? {
        let (gpa, overflow) = gfn.multipliedReportingOverflow(by: UInt64(PageMappedGuestMemory.pageSize))
        guard !overflow else { return nil }
        return fileOffset(ofGuestPhysical: gpa)
    }
}
