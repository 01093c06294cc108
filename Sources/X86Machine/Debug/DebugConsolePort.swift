import DeviceModel

/// A write-only debug console at port 0x402, like QEMU's `isa-debugcon` with
/// `iobase=0x402` (SeaBIOS writes its debug log there when built with `CONFIG_DEBUG_IO`).
///
/// Each byte written goes to the output; reads return 0xE9, the value SeaBIOS checks to
/// decide the port exists.
public final class DebugConsolePort: ByteRegisterDevice, Sendable {
    public static let portAddress: UInt64 = 0x402
    /// The read-back value that announces the port.
    public static let presenceValue: UInt8 = 0xE9

    private let output: SerialOutput

    /// - Parameter output: receives each byte written; called on the vCPU thread.
    public init(output: @escaping SerialOutput) { self.output = output }

    func readByte(at offset: UInt64) -> UInt8 { offset == 0 ? Self.presenceValue : 0xFF }

    func writeByte(at offset: UInt64, value: UInt8) {
        guard offset == 0 else { return }
        output(value)
    }
}
