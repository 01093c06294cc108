/// What ``MSIXCapability/notify(vector:)`` did with an interrupt.
public enum MSIXDelivery: Sendable, Hashable {
    /// The vector's message was sent to the ``MSIController``.
    case delivered
    /// The vector or the whole function is masked: its pending bit is now set, and the
    /// message goes out when the guest unmasks it (PCI Local Bus 3.0 §6.8.3.4).
    case pending
    /// MSI-X is disabled in message control; the function should use INTx instead.
    case disabled
    /// Bus mastering is off in the command register, so the function cannot write the
    /// message (§6.2.2, bit 2); the interrupt is dropped, as on real hardware.
    case busMasterDisabled
    /// The vector number is not below the table size; nothing happened.
    case invalidVector
}

/// One MSI-X table entry as the guest programmed it (PCI Local Bus 3.0 §6.8.2.6–§6.8.2.9).
public struct MSIXTableEntry: Sendable, Hashable {
    /// Message address (upper and lower dwords) and data.
    public var message: MSIMessage
    /// Vector control bit 0.
    public var masked: Bool

    /// An entry with `message`, masked or not.
    public init(message: MSIMessage, masked: Bool) {
        self.message = message
        self.masked = masked
    }
}
