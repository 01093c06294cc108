import DeviceModel
import Synchronization

/// System Control Port A at port 0x92 ("PS/2 port A"): fast A20 gate and fast reset.
///
/// Writing bit 0 as 1 raises ``MachineEvent/reset(_:)`` (``MachineEvent/ResetSource/systemControlPortA``);
/// the bit reads back 0 since the reset has happened. Bit 1 is the A20 gate, recorded only:
/// the backends do not mask address line 20. Other bits are kept.
public final class SystemControlPortA: ByteRegisterDevice, SystemResettable, Sendable {
    public static let portAddress: UInt64 = 0x92

    private static let fastReset: UInt8 = 0x01
    private static let a20Gate: UInt8 = 0x02

    private let value = Mutex<UInt8>(SystemControlPortA.a20Gate)
    private let events: MachineEventHandler

    public init(events: @escaping MachineEventHandler) { self.events = events }

    /// Whether the guest last set the fast A20 gate.
    public var a20Enabled: Bool { value.withLock { $0 & Self.a20Gate != 0 } }

    /// Back to the power-on value: A20 on, as the BIOS finds it.
    public func systemReset() { value.withLock { $0 = Self.a20Gate } }

    func readByte(at offset: UInt64) -> UInt8 {
        guard offset == 0 else { return 0xFF }
        return value.withLock { $0 }
    }

    func writeByte(at offset: UInt64, value newValue: UInt8) {
        guard offset == 0 else { return }
        value.withLock { $0 = newValue & ~Self.fastReset }
        if newValue & Self.fastReset != 0 { events(.reset(.systemControlPortA)) }
    }
}
