extension PCIConfigSpace {
    /// The function's INTx state (PCI Local Bus 3.0 §2.2.6, §6.2.2–§6.2.3).
    struct INTxState {
        /// What the device asks for.
        var level = false
        /// What the bus was last told: `level`, unless interrupt disable or MSI-X hides it.
        var output = false
        /// Set by the bus when the function is attached.
        var sink: (@Sendable (Bool) -> Void)?
    }

    /// Asserts (`true`) or deasserts the function's INTx, level-triggered.
    ///
    /// The status register's interrupt-status bit (bit 3) follows `asserted`; the pin is
    /// actually driven only while the command register's interrupt-disable bit (bit 10) is
    /// clear and MSI-X is disabled (PCI Local Bus 3.0 §6.8.2: a function with MSI-X enabled
    /// must not use INTx). Safe from any thread.
    public func setINTxLevel(_ asserted: Bool) {
        state.withLock { s in
            s.intx.level = asserted
            let status = UInt16(truncatingIfNeeded: s.get(at: PCIRegister.status, size: 2))
            let bit = PCIStatus.interruptStatus.rawValue
            s.put(UInt32(asserted ? status | bit : status & ~bit), at: PCIRegister.status, size: 2)
            s.updateINTxOutput()
        }
    }

    /// True while the function actually drives its INTx pin.
    public var isINTxAsserted: Bool { state.withLock { $0.intx.output } }

    /// Connects the pin to the bus's router; the current state is replayed.
    func connectINTx(_ sink: @escaping @Sendable (Bool) -> Void) {
        state.withLock { s in
            s.intx.sink = sink
            s.intx.output = false
            s.updateINTxOutput()
        }
    }
}

extension PCIConfigSpace.State {
    /// Recomputes the INTx output and tells the sink when it changed.
    mutating func updateINTxOutput() {
        let command = PCICommand(rawValue: UInt16(truncatingIfNeeded: get(at: PCIRegister.command, size: 2)))
        let msixEnabled = msixOffset.map { bytes[$0 + 3] & 0x80 != 0 } ?? false
        let output = intx.level && !command.contains(.interruptDisable) && !msixEnabled
        guard output != intx.output else { return }
        intx.output = output
        intx.sink?(output)
    }
}
