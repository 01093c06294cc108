import Logging
import Synchronization

/// Hands out the shared, level-triggered GSIs that functions' INTx pins drive: one
/// ``PCIINTxWire`` per GSI, looked up once when a function is attached, so raising INTx
/// takes no global lock and no lookup.
final class PCIINTxRouter: Sendable {
    private let provider: any InterruptLineProvider
    private let logger: Logger
    /// Attach-time only: the wires made so far, by GSI.
    private let wires = Mutex<[UInt32: PCIINTxWire]>([:])

    init(provider: any InterruptLineProvider, logger: Logger) {
        self.provider = provider
        self.logger = logger
    }

    /// The wire for `gsi`, made on first use, so that a line the backend refuses is an error
    /// at attach time rather than at the first interrupt.
    func wire(gsi: UInt32) throws(InterruptError) -> PCIINTxWire {
        try wires.withLock { (w: inout [UInt32: PCIINTxWire]) throws(InterruptError) in
            if let wire = w[gsi] { return wire }
            let wire = PCIINTxWire(gsi: gsi, line: try provider.line(gsi: gsi), logger: logger)
            w[gsi] = wire
            return wire
        }
    }
}

/// One GSI shared by the INTx pins of several functions. PCI interrupt lines are wired-OR
/// (PCI Local Bus 3.0 §2.2.6): the GSI stays asserted while any function on it asserts, so
/// the wire counts asserting sources and tells the backend only about 0 ↔ 1 transitions.
final class PCIINTxWire: Sendable {
    let gsi: UInt32
    private let line: any InterruptLine
    private let logger: Logger
    /// Sources asserting. The lock also orders the backend calls of one GSI (an assert and a
    /// deassert racing on two threads must reach the backend in the counting order); it
    /// covers one `KVM_IRQ_LINE` (or the backend's equivalent), never a routing change.
    private let asserting = Mutex<Int>(0)

    init(gsi: UInt32, line: any InterruptLine, logger: Logger) {
        self.gsi = gsi
        self.line = line
        self.logger = logger
    }

    /// One source changed to `asserted`. Each source reports only its own transitions (the
    /// config space guarantees that), so counting is exact.
    func set(asserted: Bool) {
        asserting.withLock { count in
            let before = count
            count = asserted ? before + 1 : max(before - 1, 0)
            guard (before == 0) != (count == 0) else { return }
            do {
                try line.setLevel(count > 0)
            } catch {
                logger.error("PCI INTx GSI \(gsi) \(count > 0 ? "assert" : "deassert"): \(error)")
            }
        }
    }
}
