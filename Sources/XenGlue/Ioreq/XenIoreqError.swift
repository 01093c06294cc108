import DeviceModel

/// A fault while serving ioreqs. The server reports these (to its error handler and log)
/// and keeps serving: the vCPU still gets an answer whenever the protocol allows one.
public enum XenIoreqError: Error, Equatable, CustomStringConvertible {
    /// An `ioreq_t.type` this device model does not implement.
    case unsupportedType(vcpu: Int?, type: UInt8)
    /// The core could not carry out the request (bad size/count, buffer not guest RAM).
    case dispatchFailed(vcpu: Int?, request: String, error: IODispatchError)
    /// The slot left `STATE_IOREQ_INPROCESS` while we served it; no response was written.
    case slotStateChanged(vcpu: Int, state: UInt8)
    /// A buffered slot asks for a read, which the buffered ring cannot answer.
    case bufferedRead(type: UInt8, address: UInt32)
    /// The buffered ring's pointers are further apart than the ring is long; the
    /// unread entries were skipped.
    case bufferedRingOverrun(readPointer: UInt32, writePointer: UInt32)
    /// An 8-byte buffered write without its second slot; the first slot was skipped.
    case bufferedIncompleteQuadWord(readPointer: UInt32, writePointer: UInt32)
    /// The event channel delivered a port this server did not bind.
    case unknownPort(XenEventChannelPort)
    /// Reading the pending port or unmasking it failed.
    case eventChannelFailed(function: String, port: XenEventChannelPort?, errno: Int32)
    /// Mirroring a registration to the hypervisor failed (the range stays unclaimed, or
    /// claimed after its removal).
    case claimFailed(space: IOSpace, range: AddressRange, error: XenError)
    /// Notifying the vCPU's port after a response failed: the response sits in the slot
    /// (`STATE_IORESP_READY`) but the vCPU was not woken.
    case notifyFailed(vcpu: Int, port: XenEventChannelPort, errno: Int32)

    public var description: String {
        let who = { (v: Int?) in v.map { "vCPU \($0)" } ?? "buffered ring" }
        switch self {
        case .unsupportedType(let vcpu, let type):
            return "\(who(vcpu)): unsupported ioreq type \(type)"
        case .dispatchFailed(let vcpu, let request, let error):
            return "\(who(vcpu)): \(request): \(error)"
        case .slotStateChanged(let vcpu, let state):
            return "vCPU \(vcpu): ioreq slot state changed to \(state) while being served"
        case .bufferedRead(let type, let address):
            return "buffered ring: read request (type \(type), addr 0x\(String(address, radix: 16))) cannot be answered"
        case .bufferedRingOverrun(let r, let w):
            return "buffered ring overrun: read pointer \(r), write pointer \(w)"
        case .bufferedIncompleteQuadWord(let r, let w):
            return "buffered ring: 8-byte write without its second slot (read pointer \(r), write pointer \(w))"
        case .unknownPort(let port):
            return "event on unbound port \(port)"
        case .eventChannelFailed(let function, let port, let e):
            return "\(function)\(port.map { " on port \($0)" } ?? "") failed: \(XenError.errnoText(e))"
        case .claimFailed(let space, let range, let error):
            return "claiming \(space) \(range): \(error)"
        case .notifyFailed(let vcpu, let port, let e):
            return "vCPU \(vcpu): notify on port \(port) failed: \(XenError.errnoText(e))"
        }
    }
}
