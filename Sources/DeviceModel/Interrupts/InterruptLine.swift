/// A wired interrupt: an ISA IRQ / GSI or a PCI INTx pin routed to one.
///
/// Level-triggered users call ``setLevel(_:)``; edge-triggered users call ``pulse()``.
public protocol InterruptLine: AnyObject, Sendable {
    /// Drives the line high (`true`) or low (`false`).
    func setLevel(_ asserted: Bool) throws(InterruptError)
    /// Raises and lowers the line (an edge).
    func pulse() throws(InterruptError)
}

/// Where a machine's wired interrupts go; each backend provides one.
public protocol InterruptLineProvider: AnyObject, Sendable {
    /// The line for global system interrupt `gsi`.
    func line(gsi: UInt32) throws(InterruptError) -> any InterruptLine
}
