import DeviceModel

/// What a kernel's 64-bit entry point needs, as the Linux x86 boot protocol
/// (Documentation/arch/x86/boot.rst, "64-bit Boot Protocol") asks: long mode with paging on,
/// an identity map covering the kernel, boot_params and command line, a GDT whose selectors
/// `__BOOT_CS` (0x10) and `__BOOT_DS` (0x18) are flat 4 GiB code/data segments, interrupts
/// disabled, and `%rsi` holding the address of `boot_params`.
///
/// Two halves, both hypervisor-neutral: ``writeTables(to:)`` puts the GDT at
/// ``LinuxBootAddresses/gdt`` and the identity map at ``LinuxBootAddresses/pageTables`` in
/// guest RAM, and ``cpuState`` is the register state a backend loads into the boot vCPU.
///
/// The identity map covers the first 4 GiB (``identityMappedSize``) with 2 MiB pages: one PML4,
/// one PDPT and four page directories — ``pageTableSize`` bytes.
public struct LongModeEntry: Sendable, Hashable {
    /// Bytes the identity map covers: everything below the PCI hole, so any kernel and initrd
    /// ``LinuxLoader`` places in low RAM.
    public static let identityMappedSize: UInt64 = 1 << 32
    /// One PML4, one PDPT and four page directories of 4 KiB each.
    public static let pageTableSize: UInt64 = 6 * 0x1000
    public static let codeSelector: UInt16 = 0x10
    public static let dataSelector: UInt16 = 0x18
    public static let tssSelector: UInt16 = 0x20

    /// GDT: null, unused, 64-bit code (0x10), flat data (0x18), a busy 64-bit TSS (0x20).
    /// VMX refuses to enter a guest whose TR is not a busy TSS, hence the TSS entry.
    public static let gdt: [UInt64] = [
        0,
        0,
        0x00AF_9B00_0000_FFFF,  // present, DPL 0, code execute/read accessed, L=1, G=1
        0x00CF_9300_0000_FFFF,  // present, DPL 0, data read/write accessed, D/B=1, G=1
        0x0000_8B00_0000_0067,  // present, busy 64-bit TSS, limit 0x67 (its upper half would follow)
        0,
    ]

    /// Where execution starts (linear = physical through the identity map).
    public var entryPoint: UInt64
    public var stackPointer: UInt64
    /// Loaded into `%rsi` (the boot_params address for Linux).
    public var bootParams: UInt64

    public init(entryPoint: UInt64, stackPointer: UInt64, bootParams: UInt64 = 0) {
        self.entryPoint = entryPoint
        self.stackPointer = stackPointer
        self.bootParams = bootParams
    }

    /// The entry for a kernel ``LinuxLoader`` loaded: `startup_64` with `%rsi` at the zero page.
    /// The kernel switches to its own stack at once; the initial one grows down from the zero
    /// page through free low memory (the GDT sits far below, at ``LinuxBootAddresses/gdt``).
    public init(linux boot: LinuxBootInfo) {
        self.init(entryPoint: boot.entryPoint64, stackPointer: boot.bootParamsAddress, bootParams: boot.bootParamsAddress)
    }

    /// Writes the GDT and the identity-mapping page tables into guest RAM.
    public func writeTables(to memory: any GuestMemory) throws(GuestMemoryError) {
        for (i, descriptor) in Self.gdt.enumerated() {
            try memory.write(descriptor, at: LinuxBootAddresses.gdt + UInt64(i * 8))
        }
        let pml4 = LinuxBootAddresses.pageTables
        let pdpt = pml4 + 0x1000
        let pd = pdpt + 0x1000
        try memory.fill(0, at: pml4, length: Int(Self.pageTableSize))
        let presentWritable: UInt64 = 0x3
        try memory.write(pdpt | presentWritable, at: pml4)
        let directories = Self.identityMappedSize >> 30
        for i in 0..<directories {
            try memory.write((pd + i * 0x1000) | presentWritable, at: pdpt + i * 8)
        }
        let largePage: UInt64 = 0x80
        for i in 0..<(directories * 512) {
            try memory.write((i << 21) | presentWritable | largePage, at: pd + i * 8)
        }
    }

    /// The register state at ``entryPoint``: 64-bit mode, paging through the tables
    /// ``writeTables(to:)`` wrote, interrupts off; every other general-purpose register zero.
    public var cpuState: X86CPUState {
        var r = X86CPUState()
        r.rip = entryPoint
        r.rsp = stackPointer
        r.rsi = bootParams
        r.rflags = 2  // IF clear
        r.cs = SegmentRegister(selector: Self.codeSelector, base: 0, limit: 0xFFFF_FFFF, type: 0xB, l: true, g: true)
        let data = SegmentRegister(selector: Self.dataSelector, base: 0, limit: 0xFFFF_FFFF, type: 3, db: true, g: true)
        r.ds = data; r.es = data; r.fs = data; r.gs = data; r.ss = data
        r.tr = SegmentRegister(selector: Self.tssSelector, base: 0, limit: 0x67, type: 0xB, s: false)
        r.gdt = DescriptorTableRegister(base: LinuxBootAddresses.gdt, limit: UInt16(Self.gdt.count * 8 - 1))
        r.idt = DescriptorTableRegister(base: 0, limit: 0)
        r.cr0 = 0x8000_0031  // PG | NE | ET | PE
        r.cr3 = LinuxBootAddresses.pageTables
        r.cr4 = 0x20  // PAE
        r.efer = 0x500  // LMA | LME
        return r
    }
}
