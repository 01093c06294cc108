import DeviceModel

/// QEMU's pvpanic ISA device at port 0x505 (`pvpanic-isa`; QEMU `docs/specs/pvpanic.rst`), so
/// a guest kernel that panics tells the machine instead of hanging or rebooting: Linux's
/// `pvpanic-mmio` driver finds it through ACPI (`QEMU0001`, described in the DSDT).
///
/// Reads return the events the device supports; the guest writes the event that happened.
/// Bit 0 (`PVPANIC_PANICKED`) raises ``MachineEvent/guestPanic``; bit 1
/// (`PVPANIC_CRASH_LOADED`, a crash kernel is about to take over) is accepted and ignored, so
/// the guest's kdump can run.
public final class PVPanicPort: ByteRegisterDevice, Sendable {
    public static let portAddress: UInt64 = 0x505
    /// The ACPI hardware ID Linux matches (`drivers/misc/pvpanic/pvpanic-mmio.c`).
    public static let acpiHardwareID = "QEMU0001"
    static let panicked: UInt8 = 1 << 0
    static let crashLoaded: UInt8 = 1 << 1

    private let events: MachineEventHandler

    /// - Parameter events: receives ``MachineEvent/guestPanic`` on the panicking vCPU's thread.
    public init(events: @escaping MachineEventHandler) { self.events = events }

    func readByte(at offset: UInt64) -> UInt8 { offset == 0 ? Self.panicked | Self.crashLoaded : 0xFF }

    func writeByte(at offset: UInt64, value: UInt8) {
        guard offset == 0, value & Self.panicked != 0 else { return }
        events(.guestPanic)
    }
}
