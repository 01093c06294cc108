import CKVM
import X86Machine

// Conversions between X86Machine's hypervisor-neutral register values and KVM's
// `kvm_regs`/`kvm_sregs`/`kvm_segment` (KVM_GET_REGS, KVM_GET_SREGS and their setters).

extension SegmentRegister {
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

extension X86CPUState {
    init(regs r: kvm_regs, sregs s: kvm_sregs) {
        self.init()
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
        efer = s.efer
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

    /// Writes the state into `s`, which holds the vCPU's current special registers: what
    /// X86CPUState does not carry (the APIC base MSR, the pending-interrupt bitmap) stays as KVM
    /// has it.
    func apply(to s: inout kvm_sregs) {
        s.cs = cs.raw; s.ds = ds.raw; s.es = es.raw; s.fs = fs.raw; s.gs = gs.raw; s.ss = ss.raw
        s.tr = tr.raw; s.ldt = ldt.raw
        s.gdt.base = gdt.base; s.gdt.limit = gdt.limit
        s.idt.base = idt.base; s.idt.limit = idt.limit
        s.cr0 = cr0; s.cr2 = cr2; s.cr3 = cr3; s.cr4 = cr4; s.cr8 = cr8
        s.efer = efer
    }
}
