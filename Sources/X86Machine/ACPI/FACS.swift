/// The Firmware ACPI Control Structure (ACPI 6.5 §5.2.10), required by a FADT that is not
/// hardware-reduced. 64 bytes, 64-byte aligned, no checksum. Nothing resumes from S3/S4 here,
/// so the waking vectors stay zero.
enum FACS {
    static let size = 64
    static let alignment = 64

    static func make() -> [UInt8] {
        var w = LittleEndianWriter()
        w.ascii("FACS", length: 4)
        w.u32(UInt32(size))
        w.u32(0)  // hardware signature
        w.u32(0)  // firmware waking vector
        w.u32(0)  // global lock
        w.u32(0)  // flags: no S4BIOS, no 64-bit wake
        w.u64(0)  // X firmware waking vector
        w.u8(2)   // version
        w.zeros(3)
        w.u32(0)  // OSPM flags
        w.zeros(24)
        return w.bytes
    }
}
