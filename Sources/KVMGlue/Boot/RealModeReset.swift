/// The x86 power-on state, at which BIOS firmware starts.
///
/// Intel SDM Vol. 3A §10.1.1, Table 10-1 ("IA-32 Processor States Following Power-up, Reset, or
/// INIT"): real mode, `CS` selector 0xF000 with base 0xFFFF0000, `IP` 0xFFF0 — the first
/// instruction is fetched from the reset vector 0xFFFFFFF0, 16 bytes below 4 GiB.
public enum RealModeReset {
    /// The reset vector's linear address.
    public static let resetVector: UInt64 = 0xFFFF_FFF0

    /// `current` with the power-on state applied to every register firmware relies on.
    public static func registers(from current: VCPURegisters) -> VCPURegisters {
        var r = current
        r.rax = 0; r.rbx = 0; r.rcx = 0; r.rsi = 0; r.rdi = 0; r.rsp = 0; r.rbp = 0
        r.r8 = 0; r.r9 = 0; r.r10 = 0; r.r11 = 0; r.r12 = 0; r.r13 = 0; r.r14 = 0; r.r15 = 0
        // EDX holds the processor signature after reset; firmware does not depend on it.
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
        r.cr0 = 0x6000_0010
        r.cr2 = 0; r.cr3 = 0; r.cr4 = 0; r.cr8 = 0
        r.efer = 0
        return r
    }
}

extension KVMVCPU {
    /// Puts the vCPU in the power-on state so it starts at the reset vector (firmware boot).
    /// KVM creates vCPUs in this state already; setting it explicitly keeps the contract in
    /// swiftdm's hands on every KVM implementation.
    public func resetToPowerOnState() throws(KVMError) {
        try setRegisters(RealModeReset.registers(from: try registers()))
    }
}
