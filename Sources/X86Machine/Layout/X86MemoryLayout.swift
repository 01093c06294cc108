import DeviceModel

/// The guest-physical address map of the x86-64 machine.
///
/// ```
/// 0x0000_0000 ─ RAM (low)                          up to pciHoleStart or the RAM size
///     0x9_FC00 ─ 0x10_0000  reserved: EBDA, VGA hole, BIOS area (ACPI and MP tables live here)
/// pciHoleStart ─ 0xD000_0000  PCI 32-bit BAR window
/// 0xD000_0000 ─ 0xD010_0000  virtio-mmio devices (4 KiB slots)
/// 0xE000_0000 ─ 0xF000_0000  PCI Express ECAM (buses 0–255), reserved in e820
/// 0xFEC0_0000                IOAPIC
/// 0xFEE0_0000                local APICs
/// 0xFF00_0000 ─ 4 GiB        firmware flash (a BIOS image maps at the top)
/// 4 GiB ─                    RAM (high): whatever did not fit below the hole
/// aligned 1 GiB above it     PCI 64-bit BAR window
/// ```
public struct X86MemoryLayout: Sendable, Hashable {
    public static let kib: UInt64 = 1024
    public static let mib: UInt64 = 1024 * 1024
    public static let gib: UInt64 = 1024 * 1024 * 1024

    /// Start of high RAM.
    public static let fourGiB: UInt64 = 4 * gib
    /// Smallest accepted RAM size.
    public static let minimumRAMSize: UInt64 = 2 * mib
    /// Largest accepted RAM size (keeps every window inside a 46-bit physical address space).
    public static let maximumRAMSize: UInt64 = 16 * 1024 * gib
    /// End of conventional memory: the EBDA (and the MP floating pointer) start here.
    public static let conventionalMemoryEnd: UInt64 = 0x9_FC00
    /// Start of extended memory; the protected-mode kernel is loaded here.
    public static let extendedMemoryStart: UInt64 = 0x10_0000
    /// The legacy BIOS area 0xE0000–0xFFFFF: ACPI tables go at its start, the MP table at 0xF0000.
    public static let biosAreaStart: UInt64 = 0xE_0000
    /// End of the PCI 32-bit window and start of the virtio-mmio window.
    public static let virtioMMIOBase: UInt64 = 0xD000_0000
    /// Size of one virtio-mmio device slot.
    public static let virtioMMIOSlotSize: UInt64 = 0x1000
    /// Size of the virtio-mmio window (256 slots).
    public static let virtioMMIOWindowSize: UInt64 = 0x10_0000
    /// PCI Express enhanced configuration space (one segment, buses 0–255).
    public static let ecamBase: UInt64 = 0xE000_0000
    public static let ecamBusCount: UInt64 = 256
    /// The IOAPIC's register window (82093AA: 0xFEC00000).
    public static let ioapicAddress: UInt64 = 0xFEC0_0000
    /// The local APICs' register window (IA32_APIC_BASE default).
    public static let localAPICAddress: UInt64 = 0xFEE0_0000
    /// Start of the firmware flash area below 4 GiB (16 MiB; a BIOS image maps at its top).
    public static let firmwareAreaStart: UInt64 = 0xFF00_0000

    /// Total guest RAM in bytes.
    public let ramSize: UInt64
    /// Where low RAM ends and the PCI hole begins.
    public let pciHoleStart: UInt64
    /// Size of the PCI 64-bit BAR window.
    public let mmio64Size: UInt64

    /// Creates a layout.
    /// - Parameters:
    ///   - ramSize: total RAM; a multiple of 4 KiB, at least 2 MiB.
    ///   - pciHoleStart: where RAM below 4 GiB stops; a multiple of 256 MiB in
    ///     0x1000_0000…0xC000_0000 (0xC000_0000 keeps 3 GiB of low RAM).
    ///   - mmio64Size: size of the 64-bit PCI window above high RAM; a multiple of 1 GiB,
    ///     1 GiB…1 TiB.
    public init(ramSize: UInt64, pciHoleStart: UInt64 = 0xC000_0000, mmio64Size: UInt64 = 32 * gib) throws(MemoryLayoutError) {
        guard ramSize >= Self.minimumRAMSize else { throw .ramTooSmall(ramSize, minimum: Self.minimumRAMSize) }
        guard ramSize % (4 * Self.kib) == 0 else { throw .ramNotPageAligned(ramSize) }
        guard ramSize <= Self.maximumRAMSize else { throw .ramTooLarge(ramSize, maximum: Self.maximumRAMSize) }
        guard pciHoleStart % (256 * Self.mib) == 0, pciHoleStart >= 0x1000_0000, pciHoleStart <= 0xC000_0000 else {
            throw .pciHoleStartInvalid(pciHoleStart)
        }
        guard mmio64Size % Self.gib == 0, mmio64Size >= Self.gib, mmio64Size <= 1024 * Self.gib else {
            throw .mmio64SizeInvalid(mmio64Size)
        }
        self.ramSize = ramSize
        self.pciHoleStart = pciHoleStart
        self.mmio64Size = mmio64Size
    }

    /// RAM below the PCI hole, starting at 0.
    public var lowRAMSize: UInt64 { min(ramSize, pciHoleStart) }
    /// RAM above 4 GiB.
    public var highRAMSize: UInt64 { ramSize - lowRAMSize }
    /// The first address after low RAM.
    public var lowRAMEnd: UInt64 { lowRAMSize }

    /// The guest-physical RAM regions, for the backend's memory slots.
    public var ramRegions: [(guestBase: UInt64, length: UInt64)] {
        var regions = [(guestBase: UInt64(0), length: lowRAMSize)]
        if highRAMSize > 0 { regions.append((Self.fourGiB, highRAMSize)) }
        return regions
    }

    /// The PCI 32-bit BAR window, between low RAM and the virtio-mmio window.
    public var pciMMIO32Window: AddressRange {
        AddressRange(base: pciHoleStart, length: Self.virtioMMIOBase - pciHoleStart)!
    }

    /// The PCI 64-bit BAR window, 1 GiB-aligned above high RAM.
    public var pciMMIO64Window: AddressRange {
        let ramTop = Self.fourGiB + highRAMSize
        let base = (ramTop + Self.gib - 1) / Self.gib * Self.gib
        return AddressRange(base: base, length: mmio64Size)!
    }

    /// The window virtio-mmio devices are placed in.
    public var virtioMMIOWindow: AddressRange {
        AddressRange(base: Self.virtioMMIOBase, length: Self.virtioMMIOWindowSize)!
    }

    /// The ECAM region (1 MiB per bus).
    public var ecam: AddressRange {
        AddressRange(base: Self.ecamBase, length: Self.ecamBusCount * Self.mib)!
    }

    /// The e820 map a directly booted kernel gets (firmware builds its own from the CMOS).
    public var e820Map: E820Map {
        var map = E820Map()
        map.add(base: 0, length: Self.conventionalMemoryEnd, type: .ram)
        map.add(base: Self.conventionalMemoryEnd, length: Self.extendedMemoryStart - Self.conventionalMemoryEnd, type: .reserved)
        if lowRAMSize > Self.extendedMemoryStart {
            map.add(base: Self.extendedMemoryStart, length: lowRAMSize - Self.extendedMemoryStart, type: .ram)
        }
        // Linux only uses MMCONFIG space that is reserved in e820 or in ACPI motherboard resources.
        map.add(base: ecam.base, length: ecam.length, type: .reserved)
        map.add(base: Self.ioapicAddress, length: 0x1000, type: .reserved)
        map.add(base: Self.localAPICAddress, length: 0x1000, type: .reserved)
        if highRAMSize > 0 { map.add(base: Self.fourGiB, length: highRAMSize, type: .ram) }
        return map
    }

    /// The virtio-mmio slots this layout offers, each with its own interrupt line.
    public var virtioMMIOSlots: [VirtioMMIOSlot] {
        VirtioMMIOSlot.gsis.enumerated().map { i, gsi in
            VirtioMMIOSlot(index: i, base: Self.virtioMMIOBase + UInt64(i) * Self.virtioMMIOSlotSize, size: Self.virtioMMIOSlotSize, gsi: gsi)
        }
    }
}
