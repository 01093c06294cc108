/// A backend that is one queue of a multi-queue interface (a tap opened with
/// `IFF_MULTI_QUEUE`): the host spreads flows over the attached queues, so a queue whose
/// virtio queue pair the guest does not use is detached, and its frames go to the others
/// instead of waiting where nobody reads them.
public protocol QueueSteeredPacketBackend: PacketBackend {
    /// Attaches the queue to (or detaches it from) the interface's steering.
    func setQueueAttached(_ attached: Bool) throws(PacketBackendError)
}
