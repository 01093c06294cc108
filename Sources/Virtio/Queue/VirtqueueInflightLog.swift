/// A record of the heads a device has taken from a queue and not yet returned, kept outside
/// the device so that a device restarted from scratch can resubmit them (vhost-user's
/// `VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD`: a backend that crashed or was restarted redoes the
/// requests the frontend never saw completed).
///
/// ``SplitVirtqueue`` calls it as the heads move: ``headTaken(_:)`` when a chain is popped,
/// ``headPublishing(_:)`` for each used entry written before the used index that makes them
/// visible is stored, and ``published(usedIndex:)`` right after that store. The log is owned
/// by the queue's thread, like the queue itself.
public protocol VirtqueueInflightLog: AnyObject {
    /// The device took chain `head` from the available ring.
    func headTaken(_ head: UInt16)
    /// The used entry for `head` is written; the used index that publishes it comes next.
    /// Called once per head of a batch published together.
    func headPublishing(_ head: UInt16)
    /// The used index was stored as `usedIndex`: every head since the last call is back with
    /// the driver.
    func published(usedIndex: UInt16)
}
