import DeviceModel

/// The CPU state for entering a kernel at its 64-bit entry point, as the Linux x86 boot protocol
/// (Documentation/arch/x86/boot.rst, "64-bit Boot Protocol") asks: long mode with paging on,
/// an identity map covering the kernel, boot_params and command line, a GDT whose selectors
/// `__BOOT_CS` (0x10) and `__BOOT_DS` (0x18) are flat 4 GiB code/data segments, interrupts
/// disabled, and `%rsi` holding the address of `boot_params`.
///
/// The identity map covers the first 4 GiB with 2 MiB pages: one PML4, one PDPT and four
/// page directories — six pages from ``pageTableAddress``.
public struct LongModeEntry: Sendable, Hashable {
    /// Below the traditional zero page (0x7000) and above the BIOS data area.
    public static let defaultGDTAddress: UInt64 = 0x500
    /// Six pages, 0x9000–0xEFFF: clear of the zero page at 0x7000 and of the EBDA at 0x9FC00.
    public static let defaultPageTableAddress: UInt64 = 0x9000
    /// Bytes the identity map covers.
    public static let identityMappedSize: UInt64 = 1 << 32
    public static let codeSelector: UInt16 = 0x10
    public static let dataSelector: UInt16 = 0x18
    public static let tssSelector: UInt16 = 0x20

    public var entryPoint: UInt64
    public var stackPointer: UInt64
    /// Loaded into `%rsi` (the boot_params address for Linux).
    public var bootParams: UInt64
    public var gdtAddress: UInt64
    public var pageTableAddress: UInt64

    public init(
        entryPoint: UInt64, stackPointer: UInt64, bootParams: UInt64 = 0,
        gdtAddress: UInt64 = LongModeEntry.defaultGDTAddress, pageTableAddress: UInt64 = LongModeEntry.defaultPageTableAddress
    ) {
        self.entryPoint = entryPoint
        self.stackPointer = stackPointer
        self.bootParams = bootParams
        self.gdtAddress = gdtAddress
        self.pageTableAddress = pageTableAddress
    }

    /// GDT: null, unused, 64-bit code (0x10), flat data (0x18), a busy 64-bit TSS (0x20).
    public static let gdt: [UInt64] = [
        0,
        0,
        0x00AF_9B00_0000_FFFF,  // present, DPL 0, code execute/read accessed, L=1, G=1
        0x00CF_9300_0000_FFFF,  // present, DPL 0, data read/write accessed, D/B=1, G=1
        0x0000_8B00_0000_0067,  // present, busy 64-bit TSS, limit 0x67 (its upper half would follow)
        0,
    ]

    /// Writes the GDT and the identity-mapping page tables into guest RAM.
    public func writeTables(to memory: any GuestMemory) throws {
        for (i, descriptor) in Self.gdt.enumerated() {
            try memory.write(descriptor, at: gdtAddress + UInt64(i * 8))
        }
        let pml4 = pageTableAddress
        let pdpt = pml4 + 0x1000
        let pd = pdpt + 0x1000
        try memory.fill(0, at: pml4, length: 6 * 0x1000)
        let presentWritable: UInt64 = 0x3
        try memory.write(pdpt | presentWritable, at: pml4)
        for i in 0..<UInt64(4) {
            try memory.write((pd + i * 0x1000) | presentWritable, at: pdpt + i * 8)
        }
        let largePage: UInt64 = 0x80
        for i in 0..<UInt64(4 * 512) {
            try memory.write((i << 21) | presentWritable | largePage, at: pd + i * 8)
        }
    }

    /// `current` switched to 64-bit mode at ``entryPoint``.
    public func registers(from current: VCPURegisters) -> VCPURegisters {
        var r = current
        r.rip = entryPoint
        r.rsp = stackPointer
        r.rsi = bootParams
        r.rflags = 2
        r.cs = SegmentRegister(selector: Self.codeSelector, base: 0, limit: 0xFFFF_FFFF, type: 0xB, l: true, g: true)
        let data = SegmentRegister(selector: Self.dataSelector, base: 0, limit: 0xFFFF_FFFF, type: 3, db: true, g: true)
        r.ds = data; r.es = data; r.fs = data; r.gs = data; r.ss = data
        r.tr = SegmentRegister(selector: Self.tssSelector, base: 0, limit: 0x67, type: 0xB, s: false)
        r.gdt = DescriptorTableRegister(base: gdtAddress, limit: UInt16(Self.gdt.count * 8 - 1))
        r.idt = DescriptorTableRegister(base: 0, limit: 0)
        r.cr0 = 0x8000_0031  // PG | NE | ET | PE
        r.cr3 = pageTableAddress
        r.cr4 = 0x20  // PAE
        r.efer = 0x500  // LMA | LME
        return r
    }
}

extension KVMVCPU {
    /// Writes the tables for `entry` into `memory` and loads the 64-bit entry state.
    public func enterLongMode(_ entry: LongModeEntry, memory: any GuestMemory) throws(KVMError) {
        do {
            try entry.writeTables(to: memory)
        } catch {
            throw .invalidMemoryLayout("long-mode tables at GDT 0x\(String(entry.gdtAddress, radix: 16)) / page tables 0x\(String(entry.pageTableAddress, radix: 16)): \(error)")
        }
        try setRegisters(entry.registers(from: try registers()))
    }
}
