import CXen

/// An ioreq server's two pages as mapped from `XENMEM_resource_ioreq_server`: frame 0 is
/// the buffered ring (`buffered_iopage_t`), frame 1 the per-vCPU slots (`shared_iopage_t`).
struct IoreqPages {
    let mapping: XenForeignMapping

    /// How many vCPU slots the shared page holds.
    static var slotsPerPage: Int { Int(swiftdm_ioreq_slots_per_page()) }

    var bufferedPage: UnsafeMutablePointer<buffered_iopage_t> {
        mapping.host.assumingMemoryBound(to: buffered_iopage_t.self)
    }

    var sharedPage: UnsafeMutableRawPointer { mapping.host + Int(SWIFTDM_XEN_PAGE_SIZE) }

    /// The slot of `vcpu`; the caller keeps `vcpu < slotsPerPage`.
    func slot(_ vcpu: Int) -> IoreqSlot {
        IoreqSlot(pointer: swiftdm_ioreq_slot(sharedPage, UInt32(vcpu)))
    }
}
