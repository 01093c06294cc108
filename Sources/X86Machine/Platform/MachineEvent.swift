/// A request from the guest that concerns the whole machine rather than one device.
///
/// Devices report these through a ``MachineEventHandler``; the launcher decides what they
/// mean for the run (swiftdm ends the run with status 0 for a power-off or reset, non-zero for a panic).
public enum MachineEvent: Sendable, Hashable, CustomStringConvertible {
    /// The guest asked to be switched off.
    case powerOff(PowerOffSource)
    /// The guest asked for a system reset.
    case reset(ResetSource)
    /// The guest kernel panicked and said so through ``PVPanicPort``.
    case guestPanic

    /// What switched the machine off.
    public enum PowerOffSource: Sendable, Hashable {
        /// `SLP_TYP`=S5 with `SLP_EN` written to the ACPI PM1 control register (ACPI 6.5 §4.8.3.2.1).
        case acpiSoftOff
    }

    /// What reset the machine.
    public enum ResetSource: Sendable, Hashable {
        /// The i8042 keyboard controller pulsed its reset output (command 0xFE, or bit 0 of the
        /// output port cleared with command 0xD1).
        case keyboardController
        /// Fast reset through System Control Port A (port 0x92, bit 0).
        case systemControlPortA
        /// The chipset reset control register (port 0xCF9, `RST_CPU`), also the FADT `RESET_REG`.
        case resetControlRegister
    }

    public var description: String {
        switch self {
        case .powerOff(.acpiSoftOff): "power off (ACPI S5)"
        case .reset(.keyboardController): "reset (i8042 keyboard controller)"
        case .reset(.systemControlPortA): "reset (port 0x92 fast reset)"
        case .reset(.resetControlRegister): "reset (port 0xCF9 reset control)"
        case .guestPanic: "guest kernel panic (pvpanic)"
        }
    }
}

/// Receives ``MachineEvent``s. Called on the vCPU thread that caused the event, with no
/// device lock held; it must not block for long (typically it records the event and stops
/// the vCPUs).
public typealias MachineEventHandler = @Sendable (MachineEvent) -> Void
