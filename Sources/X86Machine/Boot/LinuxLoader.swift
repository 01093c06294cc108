import DeviceModel

/// Where a directly booted kernel and its data go in low memory (the layout Firecracker and
/// crosvm use), including the GDT and page tables of its ``LongModeEntry``.
public enum LinuxBootAddresses {
    /// ``LongModeEntry``'s GDT: above the BIOS data area, below the zero page.
    public static let gdt: UInt64 = 0x500
    /// `boot_params`; RSI at the 64-bit entry.
    public static let zeroPage: UInt64 = 0x7000
    /// ``LongModeEntry``'s identity-map page tables (0x9000–0xEFFF): above the zero page, below
    /// the command line, which leaves room for 23 pages.
    public static let pageTables: UInt64 = 0x9000
    /// The command line.
    public static let commandLine: UInt64 = 0x2_0000
    /// The largest command line that fits below the EBDA and the BIOS area.
    public static let commandLineCapacity = Int(X86MemoryLayout.conventionalMemoryEnd - commandLine)
    /// The protected-mode kernel.
    public static let kernel: UInt64 = 0x10_0000
}

/// What the vCPU setup needs after ``LinuxLoader/load(kernel:initrd:commandLine:layout:acpiRSDPAddress:into:)``:
/// jump to ``entryPoint64`` in long mode with RSI = ``bootParamsAddress``, identity-mapped
/// memory up to at least ``identityMapEnd``, interrupts off — ``LongModeEntry/init(linux:)``.
public struct LinuxBootInfo: Sendable, Hashable {
    /// `startup_64`: the load address + 0x200.
    public let entryPoint64: UInt64
    /// The zero page.
    public let bootParamsAddress: UInt64
    public let kernelLoadAddress: UInt64
    public let kernelSize: Int
    public let commandLineAddress: UInt64
    /// The initrd's place, if one was loaded.
    public let initrdAddress: UInt64?
    public let initrdSize: Int
    /// The first address above everything the kernel touches before it builds its own page
    /// tables (its init_size range, the initrd, the zero page and the command line).
    public let identityMapEnd: UInt64
    /// The zero page as written.
    public let bootParams: BootParams
}

/// Loads a bzImage for the 64-bit boot protocol (Documentation/arch/x86/boot.rst, "64-bit Boot
/// Protocol"): protected-mode kernel at 1 MiB, command line at 0x20000, zero page at 0x7000
/// with the e820 map, initrd as high in low RAM as `initrd_addr_max` allows.
public enum LinuxLoader {
    /// Writes kernel, initrd, command line and zero page into `memory`.
    /// - Parameters:
    ///   - acpiRSDPAddress: stored in `boot_params.acpi_rsdp_addr` when given.
    ///   - e820: the memory map the kernel gets; the layout's own when nil (a machine adds the
    ///     ranges its accelerator reserves, as it does in the firmware's map).
    public static func load(
        kernel: LinuxKernelImage, initrd: [UInt8]?, commandLine: String, layout: X86MemoryLayout,
        acpiRSDPAddress: UInt64?, e820: E820Map? = nil, into memory: any GuestMemory
    ) throws(LinuxBootError) -> LinuxBootInfo {
        let header = kernel.header
        let ramEnd = layout.lowRAMEnd
        let loadAddress = LinuxBootAddresses.kernel
        let kernelSize = kernel.protectedModeKernel.count

        // A relocatable kernel decompresses to its load address rounded up to kernel_alignment,
        // but never below pref_address (LOAD_PHYSICAL_ADDR), and needs init_size bytes there.
        let alignment = UInt64(max(header.kernelAlignment, 1))
        let alignedLoad = (loadAddress + alignment - 1) / alignment * alignment
        let runAddress = header.relocatable ? max(alignedLoad, header.preferredAddress) : max(loadAddress, header.preferredAddress)
        let kernelEnd = max(loadAddress + UInt64(kernelSize), runAddress + UInt64(header.initSize))
        guard kernelEnd <= ramEnd else { throw .kernelDoesNotFit(end: kernelEnd, ramEnd: ramEnd) }

        // Command line: NUL-terminated, within the kernel's limit and our buffer.
        let cmdline = Array(commandLine.utf8)
        guard !cmdline.contains(0) else { throw .commandLineContainsNUL }
        let maximum = min(Int(header.commandLineSize), LinuxBootAddresses.commandLineCapacity - 1)
        guard cmdline.count <= maximum else { throw .commandLineTooLong(length: cmdline.count, maximum: maximum) }

        // Initrd: page-aligned, ending at or below initrd_addr_max and the end of low RAM,
        // above the kernel's memory.
        var initrdAddress: UInt64?
        if let initrd {
            let limit = min(UInt64(header.initrdAddressMax) + 1, ramEnd)
            let size = UInt64(initrd.count)
            guard size <= limit, (limit - size) & ~0xFFF >= kernelEnd else {
                throw .initrdDoesNotFit(size: initrd.count, lowest: kernelEnd, highest: limit)
            }
            initrdAddress = (limit - size) & ~0xFFF
        }

        var params = BootParams(header: header)
        params.setCommandLine(address: LinuxBootAddresses.commandLine)
        if let initrdAddress, let initrd { params.setRamdisk(address: initrdAddress, size: UInt64(initrd.count)) }
        if let acpiRSDPAddress { params.setACPIRSDPAddress(acpiRSDPAddress) }
        try params.setE820(e820 ?? layout.e820Map)

        do {
            try memory.writeBytes(kernel.protectedModeKernel, at: loadAddress)
            try memory.writeBytes(cmdline + [0], at: LinuxBootAddresses.commandLine)
            try memory.writeBytes(params.bytes, at: LinuxBootAddresses.zeroPage)
            if let initrdAddress, let initrd { try memory.writeBytes(initrd, at: initrdAddress) }
        } catch {
            throw .guestMemory(error)
        }

        let initrdEnd = initrdAddress.map { $0 + UInt64(initrd?.count ?? 0) } ?? 0
        return LinuxBootInfo(
            entryPoint64: loadAddress + 0x200,
            bootParamsAddress: LinuxBootAddresses.zeroPage,
            kernelLoadAddress: loadAddress,
            kernelSize: kernelSize,
            commandLineAddress: LinuxBootAddresses.commandLine,
            initrdAddress: initrdAddress,
            initrdSize: initrd?.count ?? 0,
            identityMapEnd: max(kernelEnd, initrdEnd),
            bootParams: params)
    }

    /// The largest initrd accepted: it must fit below 4 GiB in low RAM, which ends before
    /// the 32-bit PCI hole (at most 3 GiB).
    public static let maximumInitrdSize = 3 << 30

    /// Reads an initrd file.
    public static func readInitrd(path: String) throws(LinuxBootError) -> [UInt8] {
        try FileContents.readBootFile(path: path, maximumSize: maximumInitrdSize)
    }
}
