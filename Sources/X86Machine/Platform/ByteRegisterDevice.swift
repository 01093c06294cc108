import DeviceModel

/// A device made of byte-wide registers (the ISA devices: UART, CMOS, i8042, ...).
///
/// Wider accesses are split into byte accesses at consecutive offsets, lowest first, the way
/// an 8-bit ISA device sees a 16- or 32-bit `in`/`out` on a PC: `outw 0x70` writes the CMOS
/// index and then the data register.
protocol ByteRegisterDevice: IOHandler {
    func readByte(at offset: UInt64) -> UInt8
    func writeByte(at offset: UInt64, value: UInt8)
}

extension ByteRegisterDevice {
    public func read(at offset: UInt64, size: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<max(1, min(size, 8)) {
            v |= UInt64(readByte(at: offset &+ UInt64(i))) << UInt64(8 * i)
        }
        return v
    }

    public func write(at offset: UInt64, size: Int, value: UInt64) {
        for i in 0..<max(1, min(size, 8)) {
            writeByte(at: offset &+ UInt64(i), value: UInt8(truncatingIfNeeded: value >> UInt64(8 * i)))
        }
    }
}
