/// A delivery path bound to one MSI-X vector, so that raising the vector costs as little as
/// the backend allows: on KVM an irqfd on its own GSI route (one eventfd write, no ioctl),
/// as Cloud Hypervisor binds one per vector in `pci/src/msix.rs`.
///
/// ``MSIXCapability`` asks its controller for one when the guest unmasks a vector, points it
/// at a new message with ``update(_:)`` when the guest reprograms the entry (on the vCPU
/// thread, outside the capability's lock), and raises it from device threads with
/// ``signal()``. Released when the capability is.
public protocol MSIVectorRoute: AnyObject, Sendable {
    /// Makes the route deliver `message` from now on. May run a routing ioctl.
    func update(_ message: MSIMessage) throws(InterruptError)
    /// Raises the message the route was last pointed at.
    func signal() throws(InterruptError)
}

extension MSIController {
    /// No per-vector routes: every interrupt goes through ``MSIController/signal(_:)``.
    public func makeVectorRoute(_ message: MSIMessage) throws(InterruptError) -> (any MSIVectorRoute)? { nil }

    /// The MSI-X mask bits apply to every message.
    public func ignoresVectorMask(_ message: MSIMessage) -> Bool { false }
}
