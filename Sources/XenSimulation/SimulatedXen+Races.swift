import XenGlue

/// Requests that race the device model's own calls: Xen may route a request to a server the
/// moment it is enabled (before the device model has bound its event channels, so the
/// notification is lost) and until the moment it is disabled.
extension SimulatedXen {
    /// Runs `body` right after Xen enabled a server (each slot's `vp_eport` written), on the
    /// device model's thread, before its `set_ioreq_server_state` call returns: the window in
    /// which a request's event finds no bound port. `nil` removes the hook.
    public func whenServerEnabled(_ body: (@Sendable (IoreqServerID) -> Void)?) {
        state.withLock { $0.enableHook = body }
    }

    /// Runs `body` when the device model disables a server, on its thread, while the server
    /// still is enabled: the last requests Xen routes to it. `nil` removes the hook.
    public func beforeServerDisabled(_ body: (@Sendable (IoreqServerID) -> Void)?) {
        state.withLock { $0.disableHook = body }
    }

    /// Puts `request` in `vcpu`'s slot of `server` (the newest enabled one by default) and
    /// raises its port, without waiting: the vCPU is blocked in Xen until the answer is read
    /// with the returned request's ``SimulatedPendingIoreq/response()`` (or
    /// ``collectResponse(vcpu:server:)``). Unlike ``send(vcpu:_:server:)`` it may be called
    /// from the hooks above.
    @discardableResult
    public func issue(vcpu: Int, _ request: SimulatedIoreq, server: IoreqServerID? = nil) throws(XenSimulationError) -> SimulatedPendingIoreq {
        let target: SimulatedIoreqServer? = state.withLock { s in
            if let server { return s.servers[server] }
            return s.enabledServers.first
        }
        guard let target else { throw .invalidRequest("no ioreq server\(server.map { " \($0)" } ?? "")") }
        try issue(vcpu: vcpu, request, to: target)
        return SimulatedPendingIoreq(xen: self, server: target, vcpu: vcpu)
    }
}

/// A request ``SimulatedXen/issue(vcpu:_:server:)`` put in a slot, its vCPU waiting in Xen.
/// It keeps the server's pages, so the answer can be read even after the device model
/// destroyed the server.
public struct SimulatedPendingIoreq: Sendable {
    let xen: SimulatedXen
    let server: SimulatedIoreqServer
    public let vcpu: Int

    /// Waits (up to the simulation's response timeout) for the answer, as `wait_for_io`
    /// does, and returns the slot's `data`.
    public func response() throws(XenSimulationError) -> UInt64 {
        try xen.collectResponse(vcpu: vcpu, from: server)
    }
}
