import DeviceModel
import Synchronization

/// The chipset Reset Control register at port 0xCF9 (PIIX4 `RC`, ICH9 `RST_CNT`), which the
/// FADT names as `RESET_REG` (value 0x06).
///
/// Writing with bit 2 (`RST_CPU`) set raises ``MachineEvent/reset(_:)``
/// (``MachineEvent/ResetSource/resetControlRegister``). Bits 1 (`SYS_RST`) and 3 (`FULL_RST`)
/// are kept and read back.
///
/// Port 0xCF9 lies inside the PCI configuration-mechanism-1 address register (0xCF8–0xCFB),
/// which must own that dword; the conf1 handler forwards byte accesses at 0xCF9 here (as the
/// PIIX does), so this handler is usually not registered directly. Offset 0 is port 0xCF9.
public final class ResetControlRegister: ByteRegisterDevice, SystemResettable, Sendable {
    public static let portAddress: UInt64 = 0xCF9
    /// The value the FADT tells the OS to write.
    public static let resetValue: UInt8 = 0x06

    private static let resetCPU: UInt8 = 0x04
    private static let kept: UInt8 = 0x0A

    private let value = Mutex<UInt8>(0)
    private let events: MachineEventHandler

    public init(events: @escaping MachineEventHandler) { self.events = events }

    /// Back to 0 (QEMU's PIIX `piix_reset` clears RC).
    public func systemReset() { value.withLock { $0 = 0 } }

    func readByte(at offset: UInt64) -> UInt8 {
        guard offset == 0 else { return 0xFF }
        return value.withLock { $0 }
    }

    func writeByte(at offset: UInt64, value newValue: UInt8) {
        guard offset == 0 else { return }
        value.withLock { $0 = newValue & Self.kept }
        if newValue & Self.resetCPU != 0 { events(.reset(.resetControlRegister)) }
    }
}
