import Testing

@testable import X86Machine

/// The real-mode reset state firmware starts in (Intel SDM Vol. 3A, Table 10-1).
@Suite struct PowerOnStateTests {
    @Test func startsAtTheResetVector() {
        let r = X86CPUState.powerOn
        #expect(r.cs.selector == 0xF000 && r.cs.base == 0xFFFF_0000 && r.rip == 0xFFF0)
        #expect(r.linearRIP == X86CPUState.resetVector)
        #expect(r.cr0 == 0x6000_0010 && r.efer == 0 && r.rflags == 2)
        #expect(!r.cs.l && r.cr3 == 0 && r.cr4 == 0)
        #expect(r.gdt == DescriptorTableRegister(base: 0, limit: 0xFFFF) && r.idt == r.gdt)
        #expect(r.rax == 0 && r.rsp == 0 && r.rdx == 0x600)
    }

    @Test func resetVectorLiesInTheFirmwareArea() {
        #expect(X86CPUState.resetVector >= X86MemoryLayout.firmwareAreaStart)
        #expect(X86CPUState.resetVector + 16 == X86MemoryLayout.fourGiB)
    }

    @Test func linearRIPTruncatesOutsideLongMode() {
        var r = X86CPUState()
        r.cs = SegmentRegister(selector: 0xFFFF, base: 0xFFFF_FFF0, limit: 0xFFFF, type: 0xB)
        r.rip = 0x20
        #expect(r.linearRIP == 0x10)
        #expect(r.description.hasPrefix("rip=0x20 (linear 0x10)"))
    }
}
