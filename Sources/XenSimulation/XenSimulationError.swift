import XenGlue

/// Why the simulated hypervisor could not carry out a request.
public enum XenSimulationError: Error, Equatable, CustomStringConvertible {
    /// The vCPU index is outside the domain.
    case noSuchVCPU(Int)
    /// The vCPU's slot was not `STATE_IOREQ_NONE` when a request was to be sent
    /// (Xen: "device model set bad IO state").
    case slotBusy(vcpu: Int, state: UInt8)
    /// The slot's `vp_eport` is not the port Xen allocated (Xen: "device model set bad
    /// event channel").
    case badEventPort(vcpu: Int, found: XenEventChannelPort, expected: XenEventChannelPort)
    /// No answer within the timeout; `state` is what the slot held then.
    case noResponse(vcpu: Int, state: UInt8)
    /// The slot went backwards or to an undefined state (Xen crashes the domain).
    case badStateTransition(vcpu: Int, from: UInt8, to: UInt8)
    /// The slot returned to `STATE_IOREQ_NONE` without a response (the emulator died).
    case emulatorGone(vcpu: Int)
    /// The buffered ring is full or the server has none; Xen would send synchronously.
    case bufferedRingFull
    /// The request cannot be buffered (address above 1 MiB, bad size, …).
    case notBufferable(String)
    /// The request itself is malformed (size, count).
    case invalidRequest(String)

    public var description: String {
        switch self {
        case .noSuchVCPU(let v): "no vCPU \(v) in the simulated domain"
        case .slotBusy(let v, let s): "vCPU \(v): ioreq slot in state \(s), not NONE"
        case .badEventPort(let v, let found, let expected): "vCPU \(v): slot names port \(found), Xen allocated \(expected)"
        case .noResponse(let v, let s): "vCPU \(v): no ioreq response (slot state \(s))"
        case .badStateTransition(let v, let from, let to): "vCPU \(v): ioreq state went \(from) -> \(to)"
        case .emulatorGone(let v): "vCPU \(v): ioreq slot reset to NONE without a response"
        case .bufferedRingFull: "buffered ioreq ring is full or absent"
        case .notBufferable(let why): "request cannot be buffered: \(why)"
        case .invalidRequest(let why): "invalid request: \(why)"
        }
    }
}
