import DeviceModel

/// The Intel MultiProcessor Specification 1.4 tables (chapter 4) for kernels booted without
/// ACPI (`acpi=off`): an MP floating pointer structure followed by the MP configuration table.
///
/// Entries: one processor per vCPU (APIC ID = index, vCPU 0 the bootstrap processor), buses
/// PCI (0) and ISA (1), the IOAPIC, an I/O interrupt entry per ISA IRQ (IRQ 0 on input 2;
/// the SCI and virtio-mmio lines level/active-high), one per PCI device 1–31 and pin following
/// ``PCIInterruptRouting``, and LINT0 = ExtINT, LINT1 = NMI on every processor.
///
/// The default place, 0xF0000, is in the BIOS area the kernel scans for `_MP_`.
public struct MPTable: Sendable {
    public static let defaultAddress: UInt64 = 0xF_0000
    static let floatingPointerSize = 16
    static let headerSize = 44
    static let pciBusID: UInt8 = 0
    static let isaBusID: UInt8 = 1

    /// INTI flags (MP 1.4 table 4-10): polarity bits 1:0, trigger bits 3:2.
    static let conforming: UInt16 = 0x0000
    static let activeHighLevel: UInt16 = 0x0001 | 0x000C
    static let activeLowLevel: UInt16 = 0x0003 | 0x000C

    /// Address of the floating pointer; the configuration table follows it.
    public let address: UInt64
    /// Floating pointer and configuration table, contiguous.
    public let bytes: [UInt8]

    /// Builds the tables for `platform` at `address` (16-byte aligned, below 4 GiB).
    public init(platform: X86PlatformDescription, at address: UInt64 = defaultAddress) {
        precondition(address % 16 == 0 && address < 1 << 32, "MP floating pointer must be 16-byte aligned below 4 GiB")
        let config = Self.configurationTable(platform)
        var w = LittleEndianWriter()
        w.ascii("_MP_", length: 4)
        w.u32(UInt32(address) + UInt32(Self.floatingPointerSize))  // configuration table
        w.u8(1)  // length in 16-byte paragraphs
        w.u8(4)  // specification revision 1.4
        w.u8(0)  // checksum
        w.u8(0)  // feature 1: a configuration table is present
        w.u8(0)  // feature 2: IMCR absent, virtual wire mode
        w.zeros(3)
        w.set(checksumByte(w.bytes), at: 10)
        w.append(config)
        self.address = address
        self.bytes = w.bytes
    }

    /// Address of the configuration table ("PCMP").
    public var configurationTableAddress: UInt64 { address + UInt64(Self.floatingPointerSize) }

    /// Writes the tables into guest RAM.
    public func write(to memory: any GuestMemory) throws(GuestMemoryError) {
        try memory.writeBytes(bytes, at: address)
    }

    static func configurationTable(_ platform: X86PlatformDescription) -> [UInt8] {
        var entries = LittleEndianWriter()
        var count: UInt16 = 0

        for cpu in 0..<platform.cpuCount {
            entries.u8(0)  // processor
            entries.u8(UInt8(cpu))  // local APIC ID
            entries.u8(0x14)  // local APIC version (integrated)
            entries.u8(cpu == 0 ? 0x03 : 0x01)  // enabled, bootstrap processor
            entries.u32(0x0000_0600)  // CPU signature: family 6
            entries.u32(0x0000_0201)  // features: FPU, APIC
            entries.zeros(8)
            count += 1
        }
        for (id, type) in [(pciBusID, "PCI"), (isaBusID, "ISA")] {
            entries.u8(1)  // bus
            entries.u8(id)
            entries.ascii(type, length: 6)
            count += 1
        }
        entries.u8(2)  // I/O APIC
        entries.u8(platform.ioapicID)
        entries.u8(0x11)  // version (82093AA)
        entries.u8(0x01)  // enabled
        entries.u32(UInt32(X86MemoryLayout.ioapicAddress))
        count += 1

        func ioInterrupt(type: UInt8, flags: UInt16, bus: UInt8, irq: UInt8, pin: UInt8) {
            entries.u8(3)
            entries.u8(type)
            entries.u16(flags)
            entries.u8(bus)
            entries.u8(irq)
            entries.u8(platform.ioapicID)
            entries.u8(pin)
            count += 1
        }
        let levelISA = Set([UInt32(ACPIPowerManagement.sciInterrupt)] + platform.virtioMMIODevices.map(\.gsi))
        ioInterrupt(type: 3, flags: conforming, bus: isaBusID, irq: 0, pin: 0)  // ExtINT: 8259 on input 0
        for irq in UInt8(0)..<16 where irq != 2 {
            let flags = levelISA.contains(UInt32(irq)) ? activeHighLevel : conforming
            ioInterrupt(type: 0, flags: flags, bus: isaBusID, irq: irq, pin: irq == 0 ? 2 : irq)
        }
        for device in UInt8(1)..<32 {
            for pin in UInt8(0)..<4 {
                let gsi = PCIInterruptRouting.gsi(device: device, pin: pin)
                ioInterrupt(type: 0, flags: activeLowLevel, bus: pciBusID, irq: device << 2 | pin, pin: UInt8(gsi))
            }
        }
        for (type, lint) in [(UInt8(3), UInt8(0)), (UInt8(1), UInt8(1))] {
            entries.u8(4)  // local interrupt
            entries.u8(type)  // ExtINT / NMI
            entries.u16(conforming)
            entries.u8(isaBusID)
            entries.u8(0)
            entries.u8(0xFF)  // all local APICs
            entries.u8(lint)
            count += 1
        }

        var w = LittleEndianWriter()
        w.ascii("PCMP", length: 4)
        w.u16(UInt16(headerSize + entries.count))
        w.u8(4)  // specification revision 1.4
        w.u8(0)  // checksum
        w.ascii(FirmwareIdentity.oemID, length: 8)
        w.ascii("SWIFTDM", length: 12)
        w.u32(0)  // OEM table pointer
        w.u16(0)  // OEM table size
        w.u16(count)
        w.u32(UInt32(X86MemoryLayout.localAPICAddress))
        w.u16(0)  // extended table length
        w.u8(0)   // extended table checksum
        w.u8(0)
        w.append(entries.bytes)
        w.set(checksumByte(w.bytes), at: 7)
        return w.bytes
    }
}
