import DeviceModel
import Synchronization

/// The ACPI fixed-hardware power-management registers of a PC (ACPI 6.5 §4.8): the PM1a event
/// block (status and enable), the PM1a control block and the 24-bit PM timer, in one I/O
/// block whose layout the FADT announces.
///
/// ```
/// base+0  PM1a_STS  (16 bit, write 1 to clear)
/// base+2  PM1a_EN   (16 bit)
/// base+4  PM1a_CNT  (16 bit)
/// base+8  PM_TMR    (32 bit read-only, 24 significant bits at 3.579545 MHz)
/// ```
///
/// Writing `SLP_EN` with `SLP_TYP` = ``softOffSleepType`` (the value the DSDT's `_S5` package
/// gives) raises ``MachineEvent/powerOff(_:)``; no other sleep state is declared, so other
/// `SLP_TYP` values do nothing. `SCI_EN` reads 1: the FADT has no `SMI_CMD`, so the machine is
/// always in ACPI mode. ``pressPowerButton()`` sets `PWRBTN_STS`, and the SCI (IRQ 9,
/// level-triggered, active-high) is asserted while an enabled status bit is set.
///
/// `TMR_STS` is computed when read (set once bit 23 of the timer has flipped since it was last
/// cleared); the timer-carry SCI is not raised asynchronously.
public final class ACPIPowerManagement: IOHandler, Sendable {
    /// Default I/O base (as QEMU's ICH9 LPC `PMBASE`).
    public static let defaultBase: UInt16 = 0x600
    /// Number of ports in the block.
    public static let portCount: UInt64 = 12
    /// Offsets inside the block.
    public static let eventBlockOffset: UInt16 = 0
    public static let controlBlockOffset: UInt16 = 4
    public static let timerOffset: UInt16 = 8
    /// The PM timer frequency in Hz.
    public static let timerFrequency: UInt64 = 3_579_545
    /// `SLP_TYP` for S5 (soft off); the DSDT's `_S5` package carries the same value.
    public static let softOffSleepType: UInt16 = 0
    /// The SCI's ISA IRQ and GSI.
    public static let sciInterrupt: UInt8 = 9

    enum Status {
        static let timer: UInt16 = 0x0001
        static let busMaster: UInt16 = 0x0010
        static let global: UInt16 = 0x0020
        static let powerButton: UInt16 = 0x0100
        static let sleepButton: UInt16 = 0x0200
        static let rtc: UInt16 = 0x0400
        static let wake: UInt16 = 0x8000
    }

    enum Enable {
        static let writable: UInt16 = 0x0001 | 0x0020 | 0x0100 | 0x0200 | 0x0400
    }

    enum Control {
        static let sciEnable: UInt16 = 0x0001
        static let busMasterReload: UInt16 = 0x0002
        static let globalRelease: UInt16 = 0x0004
        static let sleepTypeMask: UInt16 = 0x1C00
        static let sleepTypeShift: UInt16 = 10
        static let sleepEnable: UInt16 = 0x2000
        /// Bits that are stored (the rest are write-only or reserved).
        static let stored: UInt16 = busMasterReload | sleepTypeMask
    }

    private struct State {
        var status: UInt16 = 0
        var enable: UInt16 = 0
        var control: UInt16 = 0
        /// Timer ticks when `TMR_STS` was last cleared.
        var timerCarryBase: UInt64 = 0
    }

    private let state = Mutex(State())
    private let clock: any HostClock
    private let timerOrigin: UInt64
    private let sci: LevelInterruptOutput
    private let events: MachineEventHandler

    /// Creates the block.
    /// - Parameters:
    ///   - sciLine: the SCI's interrupt line (GSI 9), or `nil`.
    ///   - clock: the time source of the PM timer.
    ///   - events: receives the power-off request.
    public init(sciLine: (any InterruptLine)?, clock: any HostClock = SystemHostClock(), events: @escaping MachineEventHandler) {
        self.clock = clock
        self.timerOrigin = clock.monotonicNanoseconds()
        self.sci = LevelInterruptOutput(sciLine)
        self.events = events
    }

    /// Presses the fixed-feature power button: the OS sees `PWRBTN_STS` (and an SCI if it
    /// enabled `PWRBTN_EN`) and normally shuts down.
    public func pressPowerButton() {
        state.withLock { s in
            s.status |= Status.powerButton
            updateSCI(s)
        }
    }

    /// True while the SCI is asserted.
    public var sciAsserted: Bool { sci.asserted }

    /// The current PM timer value (24 bits).
    public var timerValue: UInt32 { UInt32(truncatingIfNeeded: ticks() & 0xFF_FFFF) }

    public func read(at offset: UInt64, size: Int) -> UInt64 {
        guard offset < Self.portCount else { return IORequest.mask(forSize: size) }
        return state.withLock { s in
            let t = ticks()
            var status = s.status
            if (t >> 23) != (s.timerCarryBase >> 23) { status |= Status.timer }
            let control = s.control & Control.stored | Control.sciEnable
            let timer = UInt32(truncatingIfNeeded: t & 0xFF_FFFF)
            var image = LittleEndianWriter()
            image.u16(status)
            image.u16(s.enable)
            image.u16(control)
            image.u16(0)
            image.u32(timer)
            var v: UInt64 = 0
            for i in 0..<min(size, 8) {
                let index = Int(offset) + i
                guard index < image.count else { break }
                v |= UInt64(image.bytes[index]) << UInt64(8 * i)
            }
            return v
        }
    }

    public func write(at offset: UInt64, size: Int, value: UInt64) {
        guard offset < Self.portCount else { return }
        // Gather the bytes written into each 16-bit register with a byte mask.
        var values = [UInt16](repeating: 0, count: 4)
        var masks = [UInt16](repeating: 0, count: 4)
        for i in 0..<min(size, 8) {
            let index = Int(offset) + i
            guard index < 8 else { break }  // the timer is read-only
            let byte = UInt16(truncatingIfNeeded: value >> UInt64(8 * i))
            let shift = UInt16(index % 2 * 8)
            values[index / 2] |= byte << shift
            masks[index / 2] |= 0xFF << shift
        }
        let powerOff: Bool = state.withLock { s in
            if masks[0] != 0 {
                let clear = values[0] & masks[0]
                if clear & Status.timer != 0 { s.timerCarryBase = ticks() }
                s.status &= ~clear
            }
            if masks[1] != 0 {
                s.enable = s.enable & ~masks[1] | values[1] & masks[1] & Enable.writable
            }
            var powerOff = false
            if masks[2] != 0 {
                let written = values[2] & masks[2]
                s.control = s.control & ~masks[2] | written & Control.stored
                if written & Control.sleepEnable != 0 {
                    let type = (s.control & Control.sleepTypeMask) >> Control.sleepTypeShift
                    powerOff = type == Self.softOffSleepType
                }
            }
            updateSCI(s)
            return powerOff
        }
        if powerOff { events(.powerOff(.acpiSoftOff)) }
    }

    private func ticks() -> UInt64 {
        let elapsed = clock.monotonicNanoseconds() &- timerOrigin
        let product = elapsed.multipliedFullWidth(by: Self.timerFrequency)
        // elapsed × 3.58e6 / 1e9 always fits in 64 bits, so the division cannot overflow.
        return UInt64(1_000_000_000).dividingFullWidth(product).quotient
    }

    private func updateSCI(_ s: State) {
        sci.set(s.status & s.enable & (Status.powerButton | Status.sleepButton | Status.rtc) != 0)
    }
}

// MARK: System reset

extension ACPIPowerManagement: SystemResettable {
    /// PM1 status, enable and control to 0 (QEMU's `acpi_pm1_evt_reset`, `acpi_pm1_cnt_reset`),
    /// which deasserts the SCI; the PM timer runs on, as a free-running counter does.
    public func systemReset() {
        state.withLock { s in
            s = State(timerCarryBase: ticks())
            updateSCI(s)
        }
    }
}

// MARK: Device state

extension ACPIPowerManagement: DeviceStateful {
    static let stateKind = "acpi-pm1"

    /// The PM timer is not saved: it follows the host's monotonic clock from the restored
    /// process's start, as it would across a migration (the guest sees a jump it tolerates).
    public func saveState(id: String) -> DeviceStateRecord {
        var r = DeviceStateRecord(id: id, kind: Self.stateKind, version: 1)
        state.withLock { s in
            r.set("pm1-status", s.status)
            r.set("pm1-enable", s.enable)
            r.set("pm1-control", s.control)
        }
        return r
    }

    public func restoreState(_ r: DeviceStateRecord) throws(DeviceStateError) {
        try r.expect(kind: Self.stateKind, versions: 1...1)
        let status: UInt16 = try r.integer("pm1-status")
        let enable: UInt16 = try r.integer("pm1-enable")
        let control: UInt16 = try r.integer("pm1-control")
        state.withLock { s in
            s.status = status
            s.enable = enable & Enable.writable
            s.control = control & Control.stored
            s.timerCarryBase = ticks()
            updateSCI(s)
        }
    }
}
