/// The Root System Description Pointer, revision 2 (ACPI 6.5 §5.2.5.3): found by the OS in
/// `boot_params.acpi_rsdp_addr` or by scanning 0xE0000–0xFFFFF on 16-byte boundaries.
enum RSDP {
    static let size = 36

    static func make(xsdtAddress: UInt64) -> [UInt8] {
        var w = LittleEndianWriter()
        w.ascii("RSD PTR ", length: 8)
        w.u8(0)  // checksum of the first 20 bytes
        w.ascii(FirmwareIdentity.oemID, length: 6)
        w.u8(2)  // revision: ACPI 2.0+ (XSDT)
        w.u32(0)  // RsdtAddress: no RSDT, the XSDT is authoritative
        w.u32(UInt32(size))
        w.u64(xsdtAddress)
        w.u8(0)  // extended checksum of all 36 bytes
        w.zeros(3)
        w.set(checksumByte(w.bytes[0..<20]), at: 8)
        w.set(checksumByte(w.bytes), at: 32)
        return w.bytes
    }
}
