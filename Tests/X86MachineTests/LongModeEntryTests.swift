import DeviceModel
import Testing

@testable import X86Machine

/// The 64-bit entry: GDT and identity-map contents, where they go, and the register state.
@Suite struct LongModeEntryTests {
    @Test func tablesIdentityMapFourGiB() throws {
        let ram = try MappedGuestMemory.anonymous([(guestBase: 0, length: 1 << 20)])
        let entry = LongModeEntry(entryPoint: 0x100_0000, stackPointer: 0x8_0000, bootParams: 0x7000)
        try entry.writeTables(to: ram)
        // Walk the tables for a few addresses as the MMU would.
        for address: UInt64 in [0, 0x20_0000, 0x1234_5678, 0xFFFF_FFFF] {
            let pml4e = try ram.read(UInt64.self, at: LinuxBootAddresses.pageTables + ((address >> 39) & 0x1FF) * 8)
            #expect(pml4e & 1 == 1)
            let pdpte = try ram.read(UInt64.self, at: (pml4e & ~0xFFF) + ((address >> 30) & 0x1FF) * 8)
            #expect(pdpte & 1 == 1)
            let pde = try ram.read(UInt64.self, at: (pdpte & ~0xFFF) + ((address >> 21) & 0x1FF) * 8)
            #expect(pde & 0x81 == 0x81, "2 MiB page present")
            #expect((pde & ~0x1F_FFFF & 0xF_FFFF_FFFF_F000) | (address & 0x1F_FFFF) == address)
        }
        // Nothing beyond 4 GiB is mapped: the second PML4 and fifth PDPT entries are empty.
        #expect(try ram.read(UInt64.self, at: LinuxBootAddresses.pageTables + 8) == 0)
        #expect(try ram.read(UInt64.self, at: LinuxBootAddresses.pageTables + 0x1000 + 4 * 8) == 0)
        // The tables end where pageTableSize says.
        let lastPDE = LinuxBootAddresses.pageTables + LongModeEntry.pageTableSize - 8
        #expect(try ram.read(UInt64.self, at: lastPDE) == 0xFFE0_0000 | 0x83)
    }

    @Test func gdtHoldsFlatBootSegmentsAndABusyTSS() throws {
        let ram = try MappedGuestMemory.anonymous([(guestBase: 0, length: 1 << 20)])
        try LongModeEntry(entryPoint: 0, stackPointer: 0).writeTables(to: ram)
        let gdt = LinuxBootAddresses.gdt
        #expect(try ram.read(UInt64.self, at: gdt) == 0, "null descriptor")
        #expect(try ram.read(UInt64.self, at: gdt + UInt64(LongModeEntry.codeSelector)) == 0x00AF_9B00_0000_FFFF)
        #expect(try ram.read(UInt64.self, at: gdt + UInt64(LongModeEntry.dataSelector)) == 0x00CF_9300_0000_FFFF)
        let tss = try ram.read(UInt64.self, at: gdt + UInt64(LongModeEntry.tssSelector))
        #expect((tss >> 40) & 0xF == 0xB, "busy 64-bit TSS")
        #expect(LongModeEntry.gdt.count * 8 == 0x30)
    }

    @Test func cpuStateIsSixtyFourBitWithPagingAndInterruptsOff() {
        let r = LongModeEntry(entryPoint: 0x100_0000, stackPointer: 0x8_0000, bootParams: 0x7000).cpuState
        #expect(r.cs.selector == 0x10 && r.cs.l && !r.cs.db)
        #expect(r.ds.selector == 0x18 && r.ss.selector == 0x18 && r.es == r.ds && r.fs == r.ds && r.gs == r.ds)
        #expect(r.tr.selector == 0x20 && r.tr.type == 0xB && !r.tr.s)
        #expect(r.gdt == DescriptorTableRegister(base: LinuxBootAddresses.gdt, limit: 0x2F))
        #expect(r.cr0 & 0x8000_0001 == 0x8000_0001 && r.cr4 & 0x20 != 0 && r.efer == 0x500)
        #expect(r.cr3 == LinuxBootAddresses.pageTables)
        #expect(r.rip == 0x100_0000 && r.rsp == 0x8_0000 && r.rsi == 0x7000 && r.rflags & 0x200 == 0)
        #expect(r.linearRIP == 0x100_0000)
    }

    /// One set of addresses: the tables sit in the gaps of LinuxBootAddresses without overlapping
    /// the zero page, the command line or the EBDA.
    @Test func tablesFitBetweenTheLinuxBootData() {
        let gdtEnd = LinuxBootAddresses.gdt + UInt64(LongModeEntry.gdt.count * 8)
        #expect(LinuxBootAddresses.gdt >= 0x500, "above the BIOS data area")
        #expect(gdtEnd <= LinuxBootAddresses.zeroPage)
        #expect(LinuxBootAddresses.zeroPage + 0x1000 <= LinuxBootAddresses.pageTables)
        #expect(LinuxBootAddresses.pageTables % 0x1000 == 0)
        #expect(LinuxBootAddresses.pageTables + LongModeEntry.pageTableSize <= LinuxBootAddresses.commandLine)
        #expect(LinuxBootAddresses.commandLine < X86MemoryLayout.conventionalMemoryEnd)
    }

    @Test func linuxEntryStartsAtStartup64WithBootParams() throws {
        let layout = try X86MemoryLayout(ramSize: 256 << 20)
        let memory = try MappedGuestMemory.anonymous(layout.ramRegions)
        let info = try LinuxLoader.load(
            kernel: try LinuxKernelImage(bytes: FakeBzImage().bytes), initrd: [UInt8](repeating: 1, count: 4096),
            commandLine: "console=ttyS0", layout: layout, acpiRSDPAddress: nil, into: memory)
        let entry = LongModeEntry(linux: info)
        #expect(entry.entryPoint == 0x10_0200 && entry.bootParams == LinuxBootAddresses.zeroPage)
        #expect(entry.stackPointer == LinuxBootAddresses.zeroPage)
        #expect(info.identityMapEnd <= LongModeEntry.identityMappedSize, "the kernel and initrd are identity-mapped")
        // Writing the tables leaves the zero page and command line intact.
        let zeroPage = try memory.readBytes(at: LinuxBootAddresses.zeroPage, count: 4096)
        try entry.writeTables(to: memory)
        #expect(try memory.readBytes(at: LinuxBootAddresses.zeroPage, count: 4096) == zeroPage)
        #expect(try memory.readBytes(at: LinuxBootAddresses.commandLine, count: 14) == Array("console=ttyS0\0".utf8))
    }

    @Test func tablesOutsideRAMAreATypedError() throws {
        let tiny = try MappedGuestMemory.anonymous([(guestBase: 0, length: 0x9000)])
        #expect(throws: GuestMemoryError.self) { try LongModeEntry(entryPoint: 0, stackPointer: 0).writeTables(to: tiny) }
    }
}
