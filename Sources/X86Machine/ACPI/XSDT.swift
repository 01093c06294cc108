/// The Extended System Description Table (ACPI 6.5 §5.2.8): 64-bit pointers to the other
/// tables (the DSDT and FACS are reached through the FADT).
enum XSDT {
    static func make(entries: [UInt64]) -> [UInt8] {
        var w = LittleEndianWriter()
        for e in entries { w.u64(e) }
        return SystemDescriptionTable.make(signature: "XSDT", revision: 1, body: w.bytes)
    }
}
