import DeviceModel

/// The guest's "boot complete" signal, as Firecracker's boot timer takes it: the byte 123
/// written to I/O port 0x3F0 (a guest init does it with `ioperm` and `outb`, or through
/// `/dev/port` where the kernel has it).
///
/// Each signal is reported to `signalled` on the vCPU thread; other values are ignored, and
/// reads return all ones (nothing is here for a driver probing the old floppy controller).
public final class BootTimerPort: ByteRegisterDevice, Sendable {
    public static let portAddress: UInt64 = 0x3F0
    /// Firecracker's `MAGIC_VALUE_SIGNAL_GUEST_BOOT_COMPLETE`.
    public static let bootCompleteValue: UInt8 = 123

    private let signalled: @Sendable () -> Void

    public init(signalled: @escaping @Sendable () -> Void) { self.signalled = signalled }

    func readByte(at offset: UInt64) -> UInt8 { 0xFF }

    func writeByte(at offset: UInt64, value: UInt8) {
        if offset == 0, value == Self.bootCompleteValue { signalled() }
    }
}
