import CKVM

/// One x86 segment register as KVM holds it (selector plus the hidden descriptor cache).
public struct SegmentRegister: Sendable, Hashable {
    public var selector: UInt16
    public var base: UInt64
    public var limit: UInt32
    /// Descriptor type (bits 3:0 of the access byte).
    public var type: UInt8
    public var present: Bool
    public var dpl: UInt8
    /// Default operand size (D/B).
    public var db: Bool
    /// Code/data (true) or system (false) descriptor.
    public var s: Bool
    /// 64-bit code segment.
    public var l: Bool
    /// Granularity: limit in 4 KiB units.
    public var g: Bool
    public var avl: Bool
    public var unusable: Bool

    public init(
        selector: UInt16, base: UInt64, limit: UInt32, type: UInt8, present: Bool = true, dpl: UInt8 = 0,
        db: Bool = false, s: Bool = true, l: Bool = false, g: Bool = false, avl: Bool = false, unusable: Bool = false
    ) {
        self.selector = selector
        self.base = base
        self.limit = limit
        self.type = type
        self.present = present
        self.dpl = dpl
        self.db = db
        self.s = s
        self.l = l
        self.g = g
        self.avl = avl
        self.unusable = unusable
    }

    init(_ k: kvm_segment) {
        self.init(
            selector: k.selector, base: k.base, limit: k.limit, type: k.type, present: k.present != 0, dpl: k.dpl,
            db: k.db != 0, s: k.s != 0, l: k.l != 0, g: k.g != 0, avl: k.avl != 0, unusable: k.unusable != 0)
    }

    var raw: kvm_segment {
        var k = kvm_segment()
        k.selector = selector
        k.base = base
        k.limit = limit
        k.type = type
        k.present = present ? 1 : 0
        k.dpl = dpl
        k.db = db ? 1 : 0
        k.s = s ? 1 : 0
        k.l = l ? 1 : 0
        k.g = g ? 1 : 0
        k.avl = avl ? 1 : 0
        k.unusable = unusable ? 1 : 0
        return k
    }
}

/// A GDT or IDT register.
public struct DescriptorTableRegister: Sendable, Hashable {
    public var base: UInt64
    public var limit: UInt16

    public init(base: UInt64, limit: UInt16) {
        self.base = base
        self.limit = limit
    }
}

/// A vCPU's architectural state as `KVM_GET_REGS` and `KVM_GET_SREGS` return it.
///
/// Used to set up entry state (``RealModeReset``, ``LongModeEntry``) and carried by every
/// ``VCPUError`` so that a guest crash is reported with where it happened.
public struct VCPURegisters: Sendable, Hashable, CustomStringConvertible {
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

    public var cr0: UInt64 = 0x6000_0010
    public var cr2: UInt64 = 0
    public var cr3: UInt64 = 0
    public var cr4: UInt64 = 0
    public var cr8: UInt64 = 0
    public var efer: UInt64 = 0
    public var apicBase: UInt64 = 0

    public init() {}

    init(regs r: kvm_regs, sregs s: kvm_sregs) {
        rax = r.rax; rbx = r.rbx; rcx = r.rcx; rdx = r.rdx
        rsi = r.rsi; rdi = r.rdi; rsp = r.rsp; rbp = r.rbp
        r8 = r.r8; r9 = r.r9; r10 = r.r10; r11 = r.r11
        r12 = r.r12; r13 = r.r13; r14 = r.r14; r15 = r.r15
        rip = r.rip; rflags = r.rflags
        cs = SegmentRegister(s.cs); ds = SegmentRegister(s.ds); es = SegmentRegister(s.es)
        fs = SegmentRegister(s.fs); gs = SegmentRegister(s.gs); ss = SegmentRegister(s.ss)
        tr = SegmentRegister(s.tr); ldt = SegmentRegister(s.ldt)
        gdt = DescriptorTableRegister(base: s.gdt.base, limit: s.gdt.limit)
        idt = DescriptorTableRegister(base: s.idt.base, limit: s.idt.limit)
        cr0 = s.cr0; cr2 = s.cr2; cr3 = s.cr3; cr4 = s.cr4; cr8 = s.cr8
        efer = s.efer; apicBase = s.apic_base
    }

    var rawRegs: kvm_regs {
        var r = kvm_regs()
        r.rax = rax; r.rbx = rbx; r.rcx = rcx; r.rdx = rdx
        r.rsi = rsi; r.rdi = rdi; r.rsp = rsp; r.rbp = rbp
        r.r8 = r8; r.r9 = r9; r.r10 = r10; r.r11 = r11
        r.r12 = r12; r.r13 = r13; r.r14 = r14; r.r15 = r15
        r.rip = rip; r.rflags = rflags
        return r
    }

    /// Writes the special registers into `s`, keeping its pending-interrupt bitmap.
    func apply(to s: inout kvm_sregs) {
        s.cs = cs.raw; s.ds = ds.raw; s.es = es.raw; s.fs = fs.raw; s.gs = gs.raw; s.ss = ss.raw
        s.tr = tr.raw; s.ldt = ldt.raw
        s.gdt.base = gdt.base; s.gdt.limit = gdt.limit
        s.idt.base = idt.base; s.idt.limit = idt.limit
        s.cr0 = cr0; s.cr2 = cr2; s.cr3 = cr3; s.cr4 = cr4; s.cr8 = cr8
        s.efer = efer; s.apic_base = apicBase
    }

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
