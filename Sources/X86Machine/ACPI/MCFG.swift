/// The PCI Express memory-mapped configuration table (PCI Firmware Specification 3.3 §4.1.2):
/// one ECAM allocation for segment 0, buses 0–255.
enum MCFG {
    static func make(layout: X86MemoryLayout) -> [UInt8] {
        var w = LittleEndianWriter()
        w.zeros(8)  // reserved
        w.u64(layout.ecam.base)
        w.u16(0)  // PCI segment group
        w.u8(0)   // start bus
        w.u8(UInt8(X86MemoryLayout.ecamBusCount - 1))  // end bus
        w.u32(0)  // reserved
        return SystemDescriptionTable.make(signature: "MCFG", revision: 1, body: w.bytes)
    }
}
