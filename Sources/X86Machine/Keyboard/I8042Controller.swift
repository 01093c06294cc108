import DeviceModel
import Synchronization

/// The i8042 keyboard controller at ports 0x60 (data) and 0x64 (status/command), with a
/// keyboard that answers commands but never types and no auxiliary (mouse) device.
///
/// Implements what firmware and OS probes use so they complete instead of timing out: the
/// status register, the controller RAM and command byte (0x20/0x60), self-tests (0xAA → 0x55,
/// 0xAB/0xA9 → 0x00), interface enable/disable, the output port (0xD0/0xD1), writes into the
/// output buffer (0xD2/0xD3), and the keyboard's replies (reset → 0xFA 0xAA, identify, echo,
/// LEDs, typematic, scan-code set, enable/disable). Reset: command 0xFE (any 0xF0–0xFF pulse
/// with bit 0 clear) or an output-port write with bit 0 clear raises
/// ``MachineEvent/reset(_:)`` with ``MachineEvent/ResetSource/keyboardController``.
///
/// Interrupts (IRQ 1 for keyboard data, IRQ 12 for auxiliary data) follow the output buffer
/// and the command byte's enable bits, level-driven as on QEMU.
public final class I8042Controller: Sendable {
    public static let dataPortAddress: UInt64 = 0x60
    public static let commandPortAddress: UInt64 = 0x64

    /// Port 0x60: reads the output buffer, writes data to the controller or the keyboard.
    public let dataPort: any IOHandler
    /// Port 0x64: reads the status register, writes controller commands.
    public let commandPort: any IOHandler

    private let core: Core

    /// Creates the controller.
    /// - Parameters:
    ///   - keyboardInterrupt: IRQ 1, or `nil`.
    ///   - auxInterrupt: IRQ 12, or `nil`.
    ///   - events: receives the reset request.
    public init(keyboardInterrupt: (any InterruptLine)? = nil, auxInterrupt: (any InterruptLine)? = nil, events: @escaping MachineEventHandler) {
        let core = Core(keyboardInterrupt: keyboardInterrupt, auxInterrupt: auxInterrupt, events: events)
        self.core = core
        self.dataPort = Port(core: core, isCommandPort: false)
        self.commandPort = Port(core: core, isCommandPort: true)
    }

    /// The controller command byte (controller RAM byte 0).
    public var commandByte: UInt8 { core.commandByte }

    /// The A20 gate bit of the controller output port. Recorded only: the backends do not mask
    /// address line 20.
    public var a20Enabled: Bool { core.a20Enabled }

    /// One of the two ports; both share the controller.
    private final class Port: ByteRegisterDevice, Sendable {
        let core: Core
        let isCommandPort: Bool

        init(core: Core, isCommandPort: Bool) {
            self.core = core
            self.isCommandPort = isCommandPort
        }

        func readByte(at offset: UInt64) -> UInt8 {
            guard offset == 0 else { return 0xFF }
            return isCommandPort ? core.readStatus() : core.readData()
        }

        func writeByte(at offset: UInt64, value: UInt8) {
            guard offset == 0 else { return }
            if isCommandPort { core.writeCommand(value) } else { core.writeData(value) }
        }
    }
}

/// Status register bits.
enum I8042Status {
    static let outputFull: UInt8 = 0x01
    static let systemFlag: UInt8 = 0x04
    static let lastWriteWasCommand: UInt8 = 0x08
    static let notInhibited: UInt8 = 0x10
    static let auxOutputFull: UInt8 = 0x20
}

/// Command byte bits.
enum I8042CommandByte {
    static let keyboardInterrupt: UInt8 = 0x01
    static let auxInterrupt: UInt8 = 0x02
    static let systemFlag: UInt8 = 0x04
    static let keyboardDisabled: UInt8 = 0x10
    static let auxDisabled: UInt8 = 0x20
    static let translate: UInt8 = 0x40
}

/// Output port bits.
enum I8042OutputPort {
    static let systemReset: UInt8 = 0x01  // active low
    static let a20Gate: UInt8 = 0x02
    static let keyboardOutputFull: UInt8 = 0x10
    static let auxOutputFull: UInt8 = 0x20
}

extension I8042Controller {
    final class Core: Sendable {
        private struct Output {
            var byte: UInt8
            var fromAux: Bool
        }

        private struct State {
            /// Controller RAM; byte 0 is the command byte.
            var ram = [UInt8](repeating: 0, count: 32)
            var systemFlag = false
            var lastWriteWasCommand = false
            /// A controller command waiting for its data byte on port 0x60.
            var pendingControllerCommand: UInt8?
            /// A keyboard command waiting for its parameter byte.
            var pendingKeyboardCommand: UInt8?
            var output: [Output] = []
            var outputPort: UInt8 = I8042OutputPort.systemReset | I8042OutputPort.a20Gate
            var scanCodeSet: UInt8 = 2

            var commandByte: UInt8 {
                get { ram[0] }
                set { ram[0] = newValue }
            }
        }

        /// Deep enough for the longest reply (identify: 3 bytes) plus bytes the guest queues.
        private static let outputDepth = 16

        private let state: Mutex<State>
        private let keyboardIRQ: LevelInterruptOutput
        private let auxIRQ: LevelInterruptOutput
        private let events: MachineEventHandler

        init(keyboardInterrupt: (any InterruptLine)?, auxInterrupt: (any InterruptLine)?, events: @escaping MachineEventHandler) {
            self.state = Mutex(Self.powerOnState)
            self.keyboardIRQ = LevelInterruptOutput(keyboardInterrupt)
            self.auxIRQ = LevelInterruptOutput(auxInterrupt)
            self.events = events
        }

        /// The controller as it comes out of reset: both interfaces' interrupts on, scan-code
        /// translation on, nothing queued.
        private static var powerOnState: State {
            var s = State()
            s.commandByte = I8042CommandByte.keyboardInterrupt | I8042CommandByte.auxInterrupt | I8042CommandByte.translate
            return s
        }

        var commandByte: UInt8 { state.withLock { $0.commandByte } }

        func systemReset() {
            state.withLock { s in
                s = Self.powerOnState
                updateInterrupts(s)
            }
        }
        var a20Enabled: Bool { state.withLock { $0.outputPort & I8042OutputPort.a20Gate != 0 } }

        func readStatus() -> UInt8 {
            state.withLock { s in
                var v = I8042Status.notInhibited
                if let front = s.output.first {
                    v |= I8042Status.outputFull
                    if front.fromAux { v |= I8042Status.auxOutputFull }
                }
                if s.systemFlag { v |= I8042Status.systemFlag }
                if s.lastWriteWasCommand { v |= I8042Status.lastWriteWasCommand }
                return v
            }
        }

        func readData() -> UInt8 {
            state.withLock { s in
                // An empty buffer reads the last byte again on hardware; 0 is as good.
                let byte = s.output.isEmpty ? 0 : s.output.removeFirst().byte
                updateInterrupts(s)
                return byte
            }
        }

        func writeCommand(_ command: UInt8) {
            let reset: Bool = state.withLock { s in
                s.lastWriteWasCommand = true
                s.pendingControllerCommand = nil
                let reset = controllerCommand(command, &s)
                updateInterrupts(s)
                return reset
            }
            if reset { events(.reset(.keyboardController)) }
        }

        func writeData(_ byte: UInt8) {
            let reset: Bool = state.withLock { s in
                s.lastWriteWasCommand = false
                var reset = false
                if let command = s.pendingControllerCommand {
                    s.pendingControllerCommand = nil
                    reset = controllerData(command, byte, &s)
                } else {
                    keyboardByte(byte, &s)
                }
                updateInterrupts(s)
                return reset
            }
            if reset { events(.reset(.keyboardController)) }
        }

        // MARK: - Controller

        /// Executes a controller command; returns true when it resets the system.
        private func controllerCommand(_ command: UInt8, _ s: inout State) -> Bool {
            switch command {
            case 0x20...0x3F:
                enqueue(s.ram[Int(command & 0x1F)], fromAux: false, &s)
            case 0x60...0x7F, 0xD1, 0xD2, 0xD3, 0xD4:
                s.pendingControllerCommand = command
            case 0xA7:
                s.commandByte |= I8042CommandByte.auxDisabled
            case 0xA8:
                s.commandByte &= ~I8042CommandByte.auxDisabled
            case 0xA9, 0xAB:
                enqueue(0x00, fromAux: false, &s)  // interface test: no error
            case 0xAA:
                s.systemFlag = true
                enqueue(0x55, fromAux: false, &s)  // self-test passed
            case 0xAD:
                s.commandByte |= I8042CommandByte.keyboardDisabled
            case 0xAE:
                s.commandByte &= ~I8042CommandByte.keyboardDisabled
            case 0xC0:
                enqueue(0x80, fromAux: false, &s)  // input port: keyboard not inhibited
            case 0xD0:
                var port = s.outputPort & ~(I8042OutputPort.keyboardOutputFull | I8042OutputPort.auxOutputFull)
                if let front = s.output.first {
                    port |= front.fromAux ? I8042OutputPort.auxOutputFull : I8042OutputPort.keyboardOutputFull
                }
                enqueue(port, fromAux: false, &s)
            case 0xDD:
                s.outputPort &= ~I8042OutputPort.a20Gate
            case 0xDF:
                s.outputPort |= I8042OutputPort.a20Gate
            case 0xE0:
                enqueue(0x00, fromAux: false, &s)  // test inputs
            case 0xF0...0xFF:
                // Pulse the output-port lines whose bit is 0; line 0 is system reset.
                return command & 0x01 == 0
            default:
                break
            }
            return false
        }

        /// Consumes the data byte of a two-byte controller command; returns true on reset.
        private func controllerData(_ command: UInt8, _ byte: UInt8, _ s: inout State) -> Bool {
            switch command {
            case 0x60...0x7F:
                s.ram[Int(command & 0x1F)] = byte
                if command == 0x60 { s.systemFlag = byte & I8042CommandByte.systemFlag != 0 }
            case 0xD1:
                s.outputPort = byte
                return byte & I8042OutputPort.systemReset == 0
            case 0xD2:
                enqueue(byte, fromAux: false, &s)
            case 0xD3:
                enqueue(byte, fromAux: true, &s)
            case 0xD4:
                enqueue(0xFE, fromAux: true, &s)  // no auxiliary device: resend/error
            default:
                break
            }
            return false
        }

        // MARK: - Keyboard

        private func keyboardByte(_ byte: UInt8, _ s: inout State) {
            if let command = s.pendingKeyboardCommand {
                s.pendingKeyboardCommand = nil
                enqueue(0xFA, fromAux: false, &s)
                if command == 0xF0 {
                    if byte == 0 {
                        enqueue(reportedScanCodeSet(s), fromAux: false, &s)
                    } else if (1...3).contains(byte) {
                        s.scanCodeSet = byte
                    }
                }
                return
            }
            switch byte {
            case 0xED, 0xF3, 0xF0:  // LEDs, typematic rate, scan-code set: parameter follows
                s.pendingKeyboardCommand = byte
                enqueue(0xFA, fromAux: false, &s)
            case 0xEE:
                enqueue(0xEE, fromAux: false, &s)  // echo
            case 0xF2:
                enqueue(0xFA, fromAux: false, &s)
                enqueue(0xAB, fromAux: false, &s)
                enqueue(s.commandByte & I8042CommandByte.translate != 0 ? 0x41 : 0x83, fromAux: false, &s)
            case 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE:
                enqueue(0xFA, fromAux: false, &s)
            case 0xFF:
                s.scanCodeSet = 2
                enqueue(0xFA, fromAux: false, &s)
                enqueue(0xAA, fromAux: false, &s)  // basic assurance test passed
            default:
                enqueue(0xFE, fromAux: false, &s)  // unknown command: resend
            }
        }

        private func reportedScanCodeSet(_ s: State) -> UInt8 {
            guard s.commandByte & I8042CommandByte.translate != 0 else { return s.scanCodeSet }
            // Through the controller's translation the set numbers arrive translated.
            switch s.scanCodeSet {
            case 1: return 0x43
            case 3: return 0x3F
            default: return 0x41
            }
        }

        private func enqueue(_ byte: UInt8, fromAux: Bool, _ s: inout State) {
            guard s.output.count < Self.outputDepth else { return }
            s.output.append(Output(byte: byte, fromAux: fromAux))
        }

        func saveState(into r: inout DeviceStateRecord) {
            state.withLock { s in
                r.set("ram", bytes: s.ram)
                r.set("system-flag", s.systemFlag)
                r.set("last-write-was-command", s.lastWriteWasCommand)
                if let c = s.pendingControllerCommand { r.set("pending-controller-command", c) }
                if let c = s.pendingKeyboardCommand { r.set("pending-keyboard-command", c) }
                r.set("output", bytes: s.output.map(\.byte))
                r.set("output-from-aux", bytes: s.output.map { $0.fromAux ? 1 : 0 })
                r.set("output-port", s.outputPort)
                r.set("scan-code-set", s.scanCodeSet)
            }
        }

        func restoreState(_ r: DeviceStateRecord) throws(DeviceStateError) {
            var n = State()
            n.ram = try r.bytes("ram", count: 32)
            n.systemFlag = try r.bool("system-flag")
            n.lastWriteWasCommand = try r.bool("last-write-was-command")
            if r.value("pending-controller-command") != nil { n.pendingControllerCommand = try r.integer("pending-controller-command") }
            if r.value("pending-keyboard-command") != nil { n.pendingKeyboardCommand = try r.integer("pending-keyboard-command") }
            let bytes = try r.bytes("output", maxCount: Self.outputDepth)
            let aux = try r.bytes("output-from-aux", count: bytes.count)
            guard aux.allSatisfy({ $0 <= 1 }) else { throw r.invalid("output-from-aux", "\(aux)", expected: "0 or 1 per byte") }
            n.output = zip(bytes, aux).map { Output(byte: $0, fromAux: $1 == 1) }
            n.outputPort = try r.integer("output-port")
            let set: UInt8 = try r.integer("scan-code-set")
            guard (1...3).contains(set) else { throw r.invalid("scan-code-set", set, expected: "1, 2 or 3") }
            n.scanCodeSet = set
            state.withLock { s in
                s = n
                updateInterrupts(s)
            }
        }

        private func updateInterrupts(_ s: State) {
            let front = s.output.first
            keyboardIRQ.set(front.map { !$0.fromAux } == true && s.commandByte & I8042CommandByte.keyboardInterrupt != 0)
            auxIRQ.set(front?.fromAux == true && s.commandByte & I8042CommandByte.auxInterrupt != 0)
        }
    }
}

// MARK: System reset

extension I8042Controller: SystemResettable {
    /// The controller and its keyboard to their power-on state (QEMU's `kbd_reset`): command
    /// byte, output port (A20 on), scan-code set 2, empty output buffer, IRQs 1 and 12 low.
    public func systemReset() { core.systemReset() }
}

// MARK: Device state

extension I8042Controller: DeviceStateful {
    static let stateKind = "i8042"

    public func saveState(id: String) -> DeviceStateRecord {
        var r = DeviceStateRecord(id: id, kind: Self.stateKind, version: 1)
        core.saveState(into: &r)
        return r
    }

    public func restoreState(_ r: DeviceStateRecord) throws(DeviceStateError) {
        try r.expect(kind: Self.stateKind, versions: 1...1)
        try core.restoreState(r)
    }
}
