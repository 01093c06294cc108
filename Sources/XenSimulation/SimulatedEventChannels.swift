import DeviceModel
import Synchronization
import XenGlue
#if canImport(Glibc)
import Glibc
#endif

/// A device-model event-channel handle on a ``SimulatedXen``, behaving like Linux's
/// `/dev/xen/evtchn`: a fired port is queued and masked until unmasked; an event that
/// arrives while masked is remembered and delivered on unmask; the fd (an eventfd) is
/// readable while the queue is non-empty.
public final class SimulatedEventChannels: XenEventChannels, @unchecked Sendable {
    // SAFETY (@unchecked): mutable state is in `state` (a Mutex); `notifier` is Sendable.
    let xen: SimulatedXen
    private let notifier: EventNotifier

    private struct State {
        var bindings: [XenEventChannelPort: XenEventChannelPort] = [:] // local -> Xen side
        var nextLocal: XenEventChannelPort = 1
        var queue: [XenEventChannelPort] = []
        var masked: Set<XenEventChannelPort> = []
        var latched: Set<XenEventChannelPort> = []
    }
    private let state = Mutex(State())

    init(xen: SimulatedXen) throws(XenError) {
        self.xen = xen
        do {
            notifier = try EventNotifier()
        } catch {
            throw .callFailed(function: "xenevtchn_open", domid: nil, errno: error.errnoValue)
        }
    }

    public var fileDescriptor: Int32 { notifier.fd }

    public func bindInterdomain(domid: XenDomainID, remotePort: XenEventChannelPort) throws(XenError) -> XenEventChannelPort {
        if let e = xen.missingDomain(domid) { throw .callFailed(function: "xenevtchn_bind_interdomain", domid: domid, errno: e) }
        let local = state.withLock { s in
            let p = s.nextLocal
            s.nextLocal += 1
            return p
        }
        try xen.state.withLock { (s: inout SimulatedXen.State) throws(XenError) in
            // Only an allocated, unbound Xen port can be bound (EVTCHNOP_bind_interdomain: -EINVAL).
            guard var port = s.ports[remotePort], port.binding?.channels == nil else {
                throw .callFailed(function: "xenevtchn_bind_interdomain", domid: domid, errno: EINVAL)
            }
            port.binding = SimulatedXen.PortBinding(channels: self, localPort: local)
            s.ports[remotePort] = port
        }
        state.withLock { $0.bindings[local] = remotePort }
        // evtchn_bind_interdomain: "We may have lost notifications on the remote unbound
        // port. Fix that up here by conservatively always setting a notification on the
        // local port."
        deliver(local)
        return local
    }

    public func unbind(_ port: XenEventChannelPort) throws(XenError) {
        let remote = state.withLock { s in
            let r = s.bindings.removeValue(forKey: port)
            s.queue.removeAll { $0 == port }
            s.masked.remove(port)
            s.latched.remove(port)
            return r
        }
        guard let remote else { throw .callFailed(function: "xenevtchn_unbind", domid: nil, errno: EINVAL) }
        xen.state.withLock { s in
            if s.ports[remote]?.binding?.localPort == port { s.ports[remote]?.binding = nil }
        }
    }

    public func notify(_ port: XenEventChannelPort) throws(XenError) {
        guard let remote = state.withLock({ $0.bindings[port] }) else {
            throw .callFailed(function: "xenevtchn_notify", domid: nil, errno: EINVAL)
        }
        try xen.notifyXen(remote)
    }

    public func pending() throws(XenError) -> XenEventChannelPort? {
        state.withLock { s in
            guard !s.queue.isEmpty else {
                notifier.drain()
                return nil
            }
            let port = s.queue.removeFirst()
            if s.queue.isEmpty { notifier.drain() }
            return port
        }
    }

    public func unmask(_ port: XenEventChannelPort) throws(XenError) {
        try state.withLock { (s: inout State) throws(XenError) in
            guard s.bindings[port] != nil else { throw .callFailed(function: "xenevtchn_unmask", domid: nil, errno: EINVAL) }
            s.masked.remove(port)
            if s.latched.remove(port) != nil { enqueue(port, &s) }
        }
    }

    /// Xen raised the Xen-side port bound to `local`.
    func deliver(_ local: XenEventChannelPort) {
        state.withLock { s in
            guard s.bindings[local] != nil else { return }
            if s.masked.contains(local) {
                s.latched.insert(local)
            } else {
                enqueue(local, &s)
            }
        }
    }

    private func enqueue(_ port: XenEventChannelPort, _ s: inout State) {
        s.masked.insert(port)
        s.queue.append(port)
        try? notifier.signal()
    }
}
