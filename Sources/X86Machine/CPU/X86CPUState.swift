/// An x86-64 CPU's architectural register state, independent of the hypervisor that holds it:
/// general-purpose registers, RIP and RFLAGS, the segment registers with their hidden parts,
/// GDTR/IDTR, the control registers and EFER.
///
/// Entry states are built as values (``powerOn`` for firmware, ``LongModeEntry/cpuState`` for a
/// 64-bit kernel) and a backend loads them into a vCPU; backends also report a stopped vCPU's
/// state in this type so a guest crash names where it happened. The defaults are the power-on
/// segments and CR0 with every general-purpose register zero.
public struct X86CPUState: Sendable, Hashable, CustomStringConvertible {
    public var rax: UInt64 = 0, rbx: UInt64 = 0, rcx: UInt64 = 0, rdx: UInt64 = 0
    public var rsi: UInt64 = 0, rdi: UInt64 = 0, rsp: UInt64 = 0, rbp: UInt64 = 0
    public var r8: UInt64 = 0, r9: UInt64 = 0, r10: UInt64 = 0, r11: UInt64 = 0
    public var r12: UInt64 = 0, r13: UInt64 = 0, r14: UInt64 = 0, r15: UInt64 = 0
    public var rip: UInt64 = 0
    /// Bit 1 is reserved and always set.
    public var rflags: UInt64 = 2

    public var cs = SegmentRegister(selector: 0, base: 0, limit: 0xFFFF, type: 0xB)
    public var ds = SegmentRegister(selector: 0, base: 0, limit: 0xFFFF, type: 3)
    public var es = SegmentRegister(selector: 0, base: 0, limit: 0xFFFF, type: 3)
    public var fs = SegmentRegister(selector: 0, base: 0, limit: 0xFFFF, type: 3)
    public var gs = SegmentRegister(selector: 0, base: 0, limit: 0xFFFF, type: 3)
    public var ss = SegmentRegister(selector: 0, base: 0, limit: 0xFFFF, type: 3)
    public var tr = SegmentRegister(selector: 0, base: 0, limit: 0xFFFF, type: 0xB, s: false)
    public var ldt = SegmentRegister(selector: 0, base: 0, limit: 0xFFFF, type: 2, s: false)
    public var gdt = DescriptorTableRegister(base: 0, limit: 0xFFFF)
    public var idt = DescriptorTableRegister(base: 0, limit: 0xFFFF)

    /// CD | NW | ET after power-on.
    public var cr0: UInt64 = 0x6000_0010
    public var cr2: UInt64 = 0
    public var cr3: UInt64 = 0
    public var cr4: UInt64 = 0
    public var cr8: UInt64 = 0
    /// IA32_EFER (MSR 0xC0000080); LME/LMA select long mode.
    public var efer: UInt64 = 0

    public init() {}

    /// Linear address of the next instruction (`cs.base + rip`, truncated to 32 bits outside long mode).
    public var linearRIP: UInt64 {
        cs.l ? rip : (cs.base &+ rip) & 0xFFFF_FFFF
    }

    public var description: String {
        func h(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
        func seg(_ n: String, _ s: SegmentRegister) -> String { "\(n)=\(h(UInt64(s.selector)))@\(h(s.base))" }
        return "rip=\(h(rip)) (linear \(h(linearRIP))) rsp=\(h(rsp)) rflags=\(h(rflags)) "
            + "rax=\(h(rax)) rbx=\(h(rbx)) rcx=\(h(rcx)) rdx=\(h(rdx)) rsi=\(h(rsi)) rdi=\(h(rdi)) rbp=\(h(rbp)) "
            + "\(seg("cs", cs)) \(seg("ss", ss)) \(seg("ds", ds)) "
            + "cr0=\(h(cr0)) cr2=\(h(cr2)) cr3=\(h(cr3)) cr4=\(h(cr4)) efer=\(h(efer)) "
            + "gdt=\(h(gdt.base))/\(gdt.limit) idt=\(h(idt.base))/\(idt.limit)"
    }
}
