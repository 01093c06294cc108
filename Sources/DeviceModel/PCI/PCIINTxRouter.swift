import Logging
import Synchronization

/// Drives shared, level-triggered GSIs from many functions' INTx pins.
///
/// PCI interrupt lines are wired-OR (PCI Local Bus 3.0 §2.2.6): a GSI stays asserted while
/// any function on it asserts, so the router counts asserting sources per GSI and only
/// tells the backend about 0 ↔ 1 transitions.
final class PCIINTxRouter: Sendable {
    private let provider: any InterruptLineProvider
    private let logger: Logger
    private let state = Mutex<State>(State())

    private struct State {
        var lines: [UInt32: any InterruptLine] = [:]
        var asserted: [UInt32: Int] = [:]
    }

    init(provider: any InterruptLineProvider, logger: Logger) {
        self.provider = provider
        self.logger = logger
    }

    /// Looks up (and caches) the line for `gsi` so that errors surface at attach time.
    func prepare(gsi: UInt32) throws(InterruptError) {
        try state.withLock { (s: inout State) throws(InterruptError) in
            if s.lines[gsi] == nil { s.lines[gsi] = try provider.line(gsi: gsi) }
        }
    }

    /// One source on `gsi` changed to `asserted`. Each source reports only its own
    /// transitions (the config space guarantees that), so counting is exact.
    func set(gsi: UInt32, asserted: Bool) {
        state.withLock { s in
            let before = s.asserted[gsi, default: 0]
            let after = asserted ? before + 1 : max(before - 1, 0)
            s.asserted[gsi] = after
            guard (before == 0) != (after == 0) else { return }
            do {
                let line: any InterruptLine
                if let cached = s.lines[gsi] {
                    line = cached
                } else {
                    line = try provider.line(gsi: gsi)
                    s.lines[gsi] = line
                }
                try line.setLevel(after > 0)
            } catch {
                logger.error("PCI INTx GSI \(gsi) \(after > 0 ? "assert" : "deassert"): \(error)")
            }
        }
    }
}
