extension X86CPUState {
    /// The reset vector's linear address, 16 bytes below 4 GiB: where firmware's first
    /// instruction sits (``FirmwareImage`` places the image to end at 4 GiB for that reason).
    public static let resetVector: UInt64 = 0xFFFF_FFF0

    /// The power-on state, at which BIOS firmware starts.
    ///
    /// Intel SDM Vol. 3A §10.1.1, Table 10-1 ("IA-32 Processor States Following Power-up, Reset,
    /// or INIT"): real mode, `CS` selector 0xF000 with base 0xFFFF0000, `IP` 0xFFF0 — the first
    /// instruction is fetched from ``resetVector``.
    public static let powerOn: X86CPUState = {
        var r = X86CPUState()
        // EDX holds the processor signature after reset; firmware does not depend on its value.
        r.rdx = 0x600
        r.rip = 0xFFF0
        r.rflags = 2
        r.cs = SegmentRegister(selector: 0xF000, base: 0xFFFF_0000, limit: 0xFFFF, type: 0xB)
        let data = SegmentRegister(selector: 0, base: 0, limit: 0xFFFF, type: 3)
        r.ds = data; r.es = data; r.fs = data; r.gs = data; r.ss = data
        r.tr = SegmentRegister(selector: 0, base: 0, limit: 0xFFFF, type: 0xB, s: false)
        r.ldt = SegmentRegister(selector: 0, base: 0, limit: 0xFFFF, type: 2, s: false)
        r.gdt = DescriptorTableRegister(base: 0, limit: 0xFFFF)
        r.idt = DescriptorTableRegister(base: 0, limit: 0xFFFF)
        r.cr0 = 0x6000_0010  // CD | NW | ET
        r.cr2 = 0; r.cr3 = 0; r.cr4 = 0; r.cr8 = 0
        r.efer = 0
        return r
    }()
}
