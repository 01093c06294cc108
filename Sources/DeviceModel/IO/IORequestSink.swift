/// Why an ``IORequestSink`` could not carry out a request.
public enum IORequestSinkError: Error, Equatable, CustomStringConvertible {
    /// The request itself was bad (the guest's doing). The vCPU completes the access as
    /// unclaimed (reads see all ones) and keeps running.
    case rejected(IODispatchError)
    /// The sink's own machinery failed (e.g. a simulated hypervisor's event channel). The run ends
    /// with a vCPU failure.
    case failed(String)

    public var description: String {
        switch self {
        case .rejected(let e): "request rejected: \(e)"
        case .failed(let why): why
        }
    }
}

/// Where a vCPU hands each port-I/O and MMIO exit, as an ``IORequest``.
///
/// The default sink is the core ``IODispatcher`` itself. Other sinks forward the
/// request elsewhere first — the Xen simulation hands it to a simulated hypervisor that sends it
/// through ioreq pages to XenGlue's ioreq server — and fill in read results the same way.
/// Called on vCPU threads, concurrently from several vCPUs.
public protocol IORequestSink: AnyObject, Sendable {
    /// Carries out `request` issued by vCPU `vcpu`, leaving read results in `request.data`
    /// (the inline value, or the host buffer for string I/O).
    func handle(_ request: inout IORequest, vcpu: Int) throws(IORequestSinkError)
}

extension IODispatcher: IORequestSink {
    /// Dispatches through the dispatcher's address spaces. KVM exits never carry guest-physical
    /// buffers, so no guest memory is needed here.
    public func handle(_ request: inout IORequest, vcpu: Int) throws(IORequestSinkError) {
        do {
            try dispatch(&request, guestMemory: nil)
        } catch {
            throw .rejected(error)
        }
    }
}
