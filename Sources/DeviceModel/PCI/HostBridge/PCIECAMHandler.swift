/// Serves an ECAM window: decodes bus/device/function/register from the offset
/// (PCI Express Base 4.0 §7.2.2, table 7-1). 8-byte accesses are split into two dwords.
final class PCIECAMHandler: IOHandler {
    weak let bus: PCIBus?

    init(bus: PCIBus) { self.bus = bus }

    func read(at offset: UInt64, size: Int) -> UInt64 {
        guard let bus else { return IORequest.mask(forSize: size) }
        if size == 8 {
            return UInt64(read32(bus, offset)) | UInt64(read32(bus, offset + 4)) << 32
        }
        let (b, d, f, r) = Self.decode(offset)
        return UInt64(bus.readConfig(bus: b, device: d, function: f, register: r, size: size))
    }

    func write(at offset: UInt64, size: Int, value: UInt64) {
        guard let bus else { return }
        if size == 8 {
            write32(bus, offset, UInt32(truncatingIfNeeded: value))
            write32(bus, offset + 4, UInt32(truncatingIfNeeded: value >> 32))
            return
        }
        let (b, d, f, r) = Self.decode(offset)
        bus.writeConfig(bus: b, device: d, function: f, register: r, size: size, value: UInt32(truncatingIfNeeded: value))
    }

    private func read32(_ bus: PCIBus, _ offset: UInt64) -> UInt32 {
        let (b, d, f, r) = Self.decode(offset)
        return bus.readConfig(bus: b, device: d, function: f, register: r, size: 4)
    }

    private func write32(_ bus: PCIBus, _ offset: UInt64, _ value: UInt32) {
        let (b, d, f, r) = Self.decode(offset)
        bus.writeConfig(bus: b, device: d, function: f, register: r, size: 4, value: value)
    }

    private static func decode(_ offset: UInt64) -> (UInt8, UInt8, UInt8, Int) {
        (
            UInt8(truncatingIfNeeded: offset >> 20), UInt8(truncatingIfNeeded: offset >> 15) & 0x1F,
            UInt8(truncatingIfNeeded: offset >> 12) & 0x7, Int(offset & 0xFFF)
        )
    }
}
