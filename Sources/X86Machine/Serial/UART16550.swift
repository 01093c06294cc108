import DeviceModel
import Synchronization

/// Receives the bytes a guest transmits on a serial port (the launcher writes them to stdout).
///
/// Called on the vCPU thread with the UART's lock held, so bytes arrive in transmit order;
/// it must not call back into the UART.
public typealias SerialOutput = @Sendable (UInt8) -> Void

/// A 16550A UART (PC16550D), as COM1 at port 0x3F8 / IRQ 4 on a PC.
///
/// Registers: RBR/THR with a 16-byte receive FIFO, IER, IIR/FCR, LCR with the divisor latch,
/// MCR including loopback, LSR, MSR and SCR. Transmission is instantaneous: a byte written to
/// THR goes to ``SerialOutput`` (or, in loopback mode, into the receive FIFO) and THR/TEMT read
/// empty again at once. Received bytes come from ``enqueueInput(_:)``; they wait in a host-side
/// backlog (like a terminal's line buffer, i.e. hardware flow control) until the receive FIFO
/// has room, so input is never overrun. The interrupt output is level-driven from IER and the
/// pending conditions, with the 16550 priority order (line status, received data / character
/// timeout, THR empty, modem status). Like QEMU, the output is not gated by MCR OUT2.
///
/// Without timing, the character-timeout interrupt (FIFO mode, fewer bytes than the trigger
/// level waiting) is reported as soon as the bytes are there; drivers treat it like
/// received-data-available.
///
/// Thread-safe: all register state is behind one lock; any vCPU and the input thread may call in.
public final class UART16550: ByteRegisterDevice, Sendable {
    /// Number of port addresses the UART decodes (base … base+7).
    public static let portCount: UInt64 = 8
    /// Depth of the receive FIFO.
    public static let fifoDepth = 16

    private struct State {
        var divisorLatch: UInt16 = 0x0C  // 9600 baud at 1.8432 MHz; firmware reprograms it
        var interruptEnable: UInt8 = 0
        var lineControl: UInt8 = 0
        var modemControl: UInt8 = 0
        var scratch: UInt8 = 0
        var fifosEnabled = false
        var triggerLevel = 1
        var lineStatusErrors: UInt8 = 0
        var modemStatusLines: UInt8 = UART16550.connectedModemLines
        var modemStatusDeltas: UInt8 = 0
        /// The THR-empty interrupt latch: set when THR empties (or ETBEI is enabled while it is
        /// empty), cleared by reading IIR while it is the reported source or by writing THR.
        var transmitterEmptyPending = false
        var receiveFIFO = ByteQueue(capacity: 1)
        var backlog: ByteQueue

        var loopback: Bool { modemControl & UARTModemControl.loopback != 0 }
        var divisorLatchAccess: Bool { lineControl & UARTLineControl.divisorLatchAccess != 0 }
    }

    /// CTS, DSR and DCD asserted: the host end of the line is always there.
    static let connectedModemLines: UInt8 =
        UARTModemStatus.clearToSend | UARTModemStatus.dataSetReady | UARTModemStatus.dataCarrierDetect

    private let state: Mutex<State>
    private let output: SerialOutput
    private let interrupt: LevelInterruptOutput

    /// Creates a UART.
    /// - Parameters:
    ///   - interruptLine: the line its interrupt output drives (GSI 4 for COM1); `nil` for a
    ///     polled-only UART.
    ///   - inputBacklog: how many received bytes may wait for the guest to make room.
    ///   - output: where transmitted bytes go.
    public init(interruptLine: (any InterruptLine)?, inputBacklog: Int = 64 * 1024, output: @escaping SerialOutput) {
        self.state = Mutex(State(backlog: ByteQueue(capacity: max(1, inputBacklog))))
        self.output = output
        self.interrupt = LevelInterruptOutput(interruptLine)
    }

    /// Offers bytes received from the host side of the line; returns how many were accepted
    /// (fewer than `bytes.count` only when the backlog is full).
    @discardableResult
    public func enqueueInput<C: Collection>(_ bytes: C) -> Int where C.Element == UInt8 {
        state.withLock { s in
            var accepted = 0
            for b in bytes {
                guard s.backlog.push(b) else { break }
                accepted += 1
            }
            refillReceiveFIFO(&s)
            updateInterrupt(s)
            return accepted
        }
    }

    /// Free space in the input backlog.
    public var inputSpace: Int { state.withLock { $0.backlog.freeSpace } }

    /// True while the interrupt output is asserted.
    public var interruptAsserted: Bool { interrupt.asserted }

    /// Level changes the backend failed to deliver.
    public var interruptDeliveryFailures: UInt64 { interrupt.deliveryFailures }

    func readByte(at offset: UInt64) -> UInt8 {
        state.withLock { s in
            let v = readRegister(offset, &s)
            updateInterrupt(s)
            return v
        }
    }

    func writeByte(at offset: UInt64, value: UInt8) {
        state.withLock { s in
            writeRegister(offset, value, &s)
            updateInterrupt(s)
        }
    }

    // MARK: - Registers

    private func readRegister(_ offset: UInt64, _ s: inout State) -> UInt8 {
        switch offset {
        case UARTRegister.data:
            if s.divisorLatchAccess { return UInt8(truncatingIfNeeded: s.divisorLatch) }
            let byte = s.receiveFIFO.pop() ?? 0
            refillReceiveFIFO(&s)
            return byte
        case UARTRegister.interruptEnable:
            if s.divisorLatchAccess { return UInt8(truncatingIfNeeded: s.divisorLatch >> 8) }
            return s.interruptEnable
        case UARTRegister.interruptIdentification:
            let id = pendingInterrupt(s)
            if id == UARTInterruptID.transmitterEmpty { s.transmitterEmptyPending = false }
            return id | (s.fifosEnabled ? UARTInterruptID.fifosEnabled : 0)
        case UARTRegister.lineControl:
            return s.lineControl
        case UARTRegister.modemControl:
            return s.modemControl
        case UARTRegister.lineStatus:
            var v = UARTLineStatus.transmitHoldingEmpty | UARTLineStatus.transmitterEmpty | s.lineStatusErrors
            if !s.receiveFIFO.isEmpty { v |= UARTLineStatus.dataReady }
            s.lineStatusErrors = 0
            return v
        case UARTRegister.modemStatus:
            let v = s.modemStatusLines | s.modemStatusDeltas
            s.modemStatusDeltas = 0
            return v
        case UARTRegister.scratch:
            return s.scratch
        default:
            return 0xFF
        }
    }

    private func writeRegister(_ offset: UInt64, _ value: UInt8, _ s: inout State) {
        switch offset {
        case UARTRegister.data:
            if s.divisorLatchAccess {
                s.divisorLatch = s.divisorLatch & 0xFF00 | UInt16(value)
                return
            }
            transmit(value, &s)
        case UARTRegister.interruptEnable:
            if s.divisorLatchAccess {
                s.divisorLatch = s.divisorLatch & 0x00FF | UInt16(value) << 8
                return
            }
            let old = s.interruptEnable
            s.interruptEnable = value & UARTInterruptEnable.writable
            // Enabling ETBEI while THR is empty raises the THRE interrupt at once (PC16550D
            // "THRE interrupt"); Linux's 8250 driver relies on it to start transmitting.
            if old & UARTInterruptEnable.transmitterEmpty == 0,
                s.interruptEnable & UARTInterruptEnable.transmitterEmpty != 0 {
                s.transmitterEmptyPending = true
            }
        case UARTRegister.interruptIdentification:
            writeFIFOControl(value, &s)
        case UARTRegister.lineControl:
            s.lineControl = value
        case UARTRegister.modemControl:
            s.modemControl = value & UARTModemControl.writable
            updateModemLines(&s)
        case UARTRegister.lineStatus, UARTRegister.modemStatus:
            break  // read-only (factory test use only on the 16550)
        case UARTRegister.scratch:
            s.scratch = value
        default:
            break
        }
    }

    private func transmit(_ byte: UInt8, _ s: inout State) {
        s.transmitterEmptyPending = false
        if s.loopback {
            if !s.receiveFIFO.push(byte) { s.lineStatusErrors |= UARTLineStatus.overrunError }
        } else {
            output(byte)
        }
        // The shift register empties instantly: THR is free again.
        s.transmitterEmptyPending = true
    }

    private func writeFIFOControl(_ value: UInt8, _ s: inout State) {
        let enable = value & UARTFIFOControl.enable != 0
        if enable != s.fifosEnabled {
            // Changing the FIFO enable bit resets both FIFOs (PC16550D FCR bit 0).
            s.fifosEnabled = enable
            s.receiveFIFO = ByteQueue(capacity: enable ? Self.fifoDepth : 1)
        }
        guard enable else {
            s.triggerLevel = 1
            refillReceiveFIFO(&s)
            return
        }
        if value & UARTFIFOControl.clearReceive != 0 { s.receiveFIFO.removeAll() }
        // Transmission is instantaneous, so the transmit FIFO is always empty: nothing to clear.
        s.triggerLevel = [1, 4, 8, 14][Int(value >> 6)]
        refillReceiveFIFO(&s)
    }

    private func updateModemLines(_ s: inout State) {
        let lines: UInt8
        if s.loopback {
            // Loopback wiring: RTS→CTS, DTR→DSR, OUT1→RI, OUT2→DCD.
            let mcr = s.modemControl
            var l: UInt8 = 0
            if mcr & UARTModemControl.requestToSend != 0 { l |= UARTModemStatus.clearToSend }
            if mcr & UARTModemControl.dataTerminalReady != 0 { l |= UARTModemStatus.dataSetReady }
            if mcr & UARTModemControl.out1 != 0 { l |= UARTModemStatus.ringIndicator }
            if mcr & UARTModemControl.out2 != 0 { l |= UARTModemStatus.dataCarrierDetect }
            lines = l
        } else {
            lines = Self.connectedModemLines
        }
        let changed = lines ^ s.modemStatusLines
        if changed & UARTModemStatus.clearToSend != 0 { s.modemStatusDeltas |= UARTModemStatus.deltaClearToSend }
        if changed & UARTModemStatus.dataSetReady != 0 { s.modemStatusDeltas |= UARTModemStatus.deltaDataSetReady }
        if changed & UARTModemStatus.dataCarrierDetect != 0 { s.modemStatusDeltas |= UARTModemStatus.deltaDataCarrierDetect }
        if s.modemStatusLines & UARTModemStatus.ringIndicator != 0, lines & UARTModemStatus.ringIndicator == 0 {
            s.modemStatusDeltas |= UARTModemStatus.trailingEdgeRingIndicator
        }
        s.modemStatusLines = lines
        // Leaving loopback lets the host's waiting bytes in.
        refillReceiveFIFO(&s)
    }

    /// Moves host bytes into the receive FIFO while it has room (never in loopback mode, where
    /// the serial input is disconnected from the line).
    private func refillReceiveFIFO(_ s: inout State) {
        guard !s.loopback else { return }
        while !s.receiveFIFO.isFull, let b = s.backlog.pop() { s.receiveFIFO.push(b) }
    }

    // MARK: - Interrupts

    private func pendingInterrupt(_ s: State) -> UInt8 {
        let ier = s.interruptEnable
        if ier & UARTInterruptEnable.receiverLineStatus != 0, s.lineStatusErrors != 0 {
            return UARTInterruptID.receiverLineStatus
        }
        if ier & UARTInterruptEnable.receivedData != 0, !s.receiveFIFO.isEmpty {
            if s.fifosEnabled, s.receiveFIFO.count < s.triggerLevel { return UARTInterruptID.characterTimeout }
            return UARTInterruptID.receivedData
        }
        if ier & UARTInterruptEnable.transmitterEmpty != 0, s.transmitterEmptyPending {
            return UARTInterruptID.transmitterEmpty
        }
        if ier & UARTInterruptEnable.modemStatus != 0, s.modemStatusDeltas != 0 {
            return UARTInterruptID.modemStatus
        }
        return UARTInterruptID.none
    }

    private func updateInterrupt(_ s: State) {
        interrupt.set(pendingInterrupt(s) != UARTInterruptID.none)
    }
}

// MARK: System reset

extension UART16550: SystemResettable {
    /// Every register to its power-on value (FIFOs off and empty, no interrupt enabled, the
    /// divisor QEMU's `serial_reset` leaves); bytes the host offered and the FIFO had no room
    /// for stay in the backlog, as a terminal's line buffer keeps them across a reboot.
    public func systemReset() {
        state.withLock { s in
            s = State(backlog: s.backlog)
            refillReceiveFIFO(&s)
            updateInterrupt(s)
        }
    }
}

// MARK: Device state

extension UART16550: DeviceStateful {
    static let stateKind = "uart16550"

    public func saveState(id: String) -> DeviceStateRecord {
        var r = DeviceStateRecord(id: id, kind: Self.stateKind, version: 1)
        state.withLock { s in
            r.set("divisor-latch", s.divisorLatch)
            r.set("ier", s.interruptEnable)
            r.set("lcr", s.lineControl)
            r.set("mcr", s.modemControl)
            r.set("scr", s.scratch)
            r.set("fifos-enabled", s.fifosEnabled)
            r.set("trigger-level", UInt8(s.triggerLevel))
            r.set("lsr-errors", s.lineStatusErrors)
            r.set("msr-lines", s.modemStatusLines)
            r.set("msr-deltas", s.modemStatusDeltas)
            r.set("thr-empty-pending", s.transmitterEmptyPending)
            r.set("rx-fifo", bytes: s.receiveFIFO.contents)
            r.set("rx-backlog", bytes: s.backlog.contents)
        }
        return r
    }

    public func restoreState(_ r: DeviceStateRecord) throws(DeviceStateError) {
        try r.expect(kind: Self.stateKind, versions: 1...1)
        let fifosEnabled = try r.bool("fifos-enabled")
        let trigger = try r.unsigned("trigger-level", max: 14)
        guard [1, 4, 8, 14].contains(trigger) else { throw r.invalid("trigger-level", trigger, expected: "1, 4, 8 or 14") }
        let fifo = try r.bytes("rx-fifo", maxCount: fifosEnabled ? Self.fifoDepth : 1)
        let capacity = state.withLock { $0.backlog.capacity }
        let backlog = try r.bytes("rx-backlog", maxCount: capacity)
        var n = State(backlog: ByteQueue(capacity: capacity))
        n.divisorLatch = try r.integer("divisor-latch")
        n.interruptEnable = try r.integer("ier", as: UInt8.self) & 0x0F
        n.lineControl = try r.integer("lcr")
        n.modemControl = try r.integer("mcr", as: UInt8.self) & 0x1F
        n.scratch = try r.integer("scr")
        n.fifosEnabled = fifosEnabled
        n.triggerLevel = Int(trigger)
        n.lineStatusErrors = try r.integer("lsr-errors")
        n.modemStatusLines = try r.integer("msr-lines")
        n.modemStatusDeltas = try r.integer("msr-deltas")
        n.transmitterEmptyPending = try r.bool("thr-empty-pending")
        n.receiveFIFO = ByteQueue(capacity: fifosEnabled ? Self.fifoDepth : 1)
        for b in fifo { n.receiveFIFO.push(b) }
        for b in backlog { n.backlog.push(b) }
        state.withLock { s in
            s = n
            updateInterrupt(s)
        }
    }
}
