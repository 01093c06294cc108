import CXen
import DeviceModel

/// The device-model side of one vCPU's `ioreq_t` slot in the shared ioreq page.
///
/// Xen drives each slot through `STATE_IOREQ_NONE → STATE_IOREQ_READY` (request filled,
/// write barrier, state set, port notified); the device model takes it
/// `READY → INPROCESS`, serves it, writes `data`, issues a write barrier and sets
/// `STATE_IORESP_READY`, then notifies; Xen reads `data` and returns the slot to `NONE`.
/// (Xen `xen/common/ioreq.c` `ioreq_send`/`wait_for_io`; QEMU `cpu_handle_ioreq`.)
struct IoreqSlot {
    let pointer: UnsafeMutablePointer<ioreq_t>

    /// The slot's state, followed by a read barrier.
    var state: UInt8 { swiftdm_ioreq_load_state(pointer) }

    /// The event channel Xen wrote for this vCPU (the remote port to bind).
    var eventPort: XenEventChannelPort { pointer.pointee.vp_eport }

    /// Takes a `READY` request: marks the slot `INPROCESS` and returns a copy of it, or
    /// `nil` when the slot holds no new request (a spurious or repeated notification).
    func accept() -> ioreq_t? {
        guard state == UInt8(STATE_IOREQ_READY) else { return nil }
        swiftdm_ioreq_store_state(pointer, UInt8(STATE_IOREQ_INPROCESS))
        let request = pointer.pointee
        // Read the whole request before anything we write back can be observed.
        MemoryBarrier.read()
        return request
    }

    /// Writes the response `data`, then (after a write barrier) `STATE_IORESP_READY`.
    /// Returns the unexpected state instead when the slot is no longer `INPROCESS`
    /// (nothing is written then).
    func respond(data: UInt64) -> UInt8? {
        let current = state
        guard current == UInt8(STATE_IOREQ_INPROCESS) else { return current }
        UnsafeMutableRawPointer(pointer).storeBytes(of: data, toByteOffset: Self.dataOffset, as: UInt64.self)
        swiftdm_ioreq_store_state(pointer, UInt8(STATE_IORESP_READY))
        return nil
    }

    private static let dataOffset = MemoryLayout<ioreq_t>.offset(of: \ioreq_t.data)!
}
