import DeviceModel

/// The complete ACPI table set for a platform, laid out at a guest-physical address:
/// RSDP → XSDT → {FADT → {FACS, DSDT}, MADT, MCFG}.
///
/// By default the set sits at 0xE0000 (inside the e820-reserved BIOS area, where a kernel
/// without `acpi_rsdp_addr` finds the RSDP by scanning) and must end below the MP table at
/// 0xF0000.
public struct ACPITables: Sendable {
    /// Default placement: the start of the BIOS area.
    public static let defaultAddress: UInt64 = X86MemoryLayout.biosAreaStart
    /// Default room: up to the MP table.
    public static let defaultCapacity = Int(MPTable.defaultAddress - X86MemoryLayout.biosAreaStart)

    /// One table and where it lives.
    public struct Table: Sendable, Hashable {
        /// "RSD PTR " for the RSDP, else the 4-character signature ("FACP" is the FADT).
        public let signature: String
        public let address: UInt64
        public let bytes: [UInt8]
    }

    /// Where the image starts.
    public let baseAddress: UInt64
    /// The RSDP's address (`boot_params.acpi_rsdp_addr`).
    public let rsdpAddress: UInt64
    /// All tables in address order.
    public let tables: [Table]
    /// The bytes to write at ``baseAddress`` (tables with zero padding between them).
    public let image: [UInt8]

    /// Builds the tables for `platform` at `baseAddress`, within `capacity` bytes.
    public init(platform: X86PlatformDescription, at baseAddress: UInt64 = defaultAddress, capacity: Int = defaultCapacity) throws(ACPITableError) {
        guard baseAddress % 64 == 0 else { throw .misalignedBase(baseAddress) }
        var image = LittleEndianWriter()
        var tables: [Table] = []
        func place(_ signature: String, _ bytes: [UInt8], alignment: Int) -> UInt64 {
            image.align(to: alignment)
            let address = baseAddress + UInt64(image.count)
            image.append(bytes)
            tables.append(Table(signature: signature, address: address, bytes: bytes))
            return address
        }

        // The RSDP goes first but points at the XSDT, which is built last: reserve its slot.
        image.zeros(RSDP.size)
        let facs = place("FACS", FACS.make(), alignment: FACS.alignment)
        let dsdt = place("DSDT", DSDT.make(platform: platform), alignment: 16)
        let fadt = place("FACP", FADT.make(facsAddress: facs, dsdtAddress: dsdt, pmBase: platform.pmBase), alignment: 16)
        let madt = place("APIC", MADT.make(platform: platform), alignment: 16)
        let mcfg = place("MCFG", MCFG.make(layout: platform.layout), alignment: 16)
        let xsdt = place("XSDT", XSDT.make(entries: [fadt, madt, mcfg]), alignment: 16)
        let rsdp = RSDP.make(xsdtAddress: xsdt)
        for (i, b) in rsdp.enumerated() { image.set(b, at: i) }
        tables.insert(Table(signature: "RSD PTR ", address: baseAddress, bytes: rsdp), at: 0)

        guard image.count <= capacity else { throw .tablesTooLarge(size: image.count, limit: capacity) }
        self.baseAddress = baseAddress
        self.rsdpAddress = baseAddress
        self.tables = tables
        self.image = image.bytes
    }

    /// The table with `signature` ("FACP", "APIC", "DSDT", …).
    public func table(_ signature: String) -> Table? { tables.first { $0.signature == signature } }

    /// Writes the image into guest RAM.
    public func write(to memory: any GuestMemory) throws(GuestMemoryError) {
        try memory.writeBytes(image, at: baseAddress)
    }
}
