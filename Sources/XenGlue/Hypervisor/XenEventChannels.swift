/// One event-channel handle (libxenevtchn, `/dev/xen/evtchn`): ports bound through it are
/// reported on one pollable file descriptor.
///
/// As in the kernel driver, a port that fires is masked until ``unmask(_:)``; an event
/// arriving while masked is delivered on unmask.
public protocol XenEventChannels: AnyObject, Sendable {
    /// Readable while a bound port has a pending event (`xenevtchn_fd`). Non-blocking.
    var fileDescriptor: Int32 { get }

    /// Binds a local port to `remotePort` of `domid` (`xenevtchn_bind_interdomain`).
    func bindInterdomain(domid: XenDomainID, remotePort: XenEventChannelPort) throws(XenError) -> XenEventChannelPort

    /// Unbinds a local port (`xenevtchn_unbind`).
    func unbind(_ port: XenEventChannelPort) throws(XenError)

    /// Signals the remote end of a local port (`xenevtchn_notify`).
    func notify(_ port: XenEventChannelPort) throws(XenError)

    /// The next port with a pending event, or `nil` when none is (`xenevtchn_pending` on
    /// a non-blocking fd). The port stays masked until ``unmask(_:)``.
    func pending() throws(XenError) -> XenEventChannelPort?

    /// Re-enables delivery on a port (`xenevtchn_unmask`).
    func unmask(_ port: XenEventChannelPort) throws(XenError)
}
