import DeviceModel

/// Where a machine's RAM goes in guest-physical space: from 0 up to ``lowMemoryLimit``, and
/// the rest from 4 GiB up, leaving the PCI hole `[lowMemoryLimit, 4 GiB)` for MMIO windows,
/// ECAM, the IOAPIC/LAPIC, KVM's TSS pages and the firmware ROM.
public struct GuestRAMLayout: Sendable, Hashable, CustomStringConvertible {
    /// QEMU's `pc` choice for guests of 3.5 GiB or more: RAM below 4 GiB ends at 3 GiB,
    /// leaving 1 GiB of hole.
    public static let defaultLowMemoryLimit: UInt64 = 0xC000_0000
    public static let fourGiB: UInt64 = 1 << 32
    /// Smallest RAM swiftdm accepts: enough for real-mode firmware, its data and a stack.
    public static let minimumSize: UInt64 = 1 << 20

    /// Total RAM in bytes.
    public let size: UInt64
    /// End of the RAM below 4 GiB when RAM is larger than it.
    public let lowMemoryLimit: UInt64
    /// The RAM ranges, ascending: one below the hole and, for large guests, one from 4 GiB.
    public let ranges: [AddressRange]

    /// Lays out `size` bytes of RAM. `size` must be a multiple of 4 KiB and at least 1 MiB;
    /// `lowMemoryLimit` a multiple of 1 MiB in `[1 MiB, 0xFEC00000]` (the IOAPIC) .
    public init(size: UInt64, lowMemoryLimit: UInt64 = GuestRAMLayout.defaultLowMemoryLimit) throws(KVMError) {
        guard size >= Self.minimumSize else {
            throw .invalidMemoryLayout("RAM size \(size) bytes is below the minimum of \(Self.minimumSize)")
        }
        guard size % 4096 == 0 else { throw .invalidMemoryLayout("RAM size \(size) is not a multiple of 4 KiB") }
        guard lowMemoryLimit >= Self.minimumSize, lowMemoryLimit <= 0xFEC0_0000, lowMemoryLimit % (1 << 20) == 0 else {
            throw .invalidMemoryLayout("low-memory limit 0x\(String(lowMemoryLimit, radix: 16)) must be a MiB multiple in [1 MiB, 0xFEC00000]")
        }
        let low = min(size, lowMemoryLimit)
        let high = size - low
        let (_, overflow) = Self.fourGiB.addingReportingOverflow(high)
        guard !overflow, high <= (1 << 46) else { throw .invalidMemoryLayout("RAM size \(size) is too large") }
        var ranges = [AddressRange(base: 0, length: low)!]
        if high > 0 { ranges.append(AddressRange(base: Self.fourGiB, length: high)!) }
        self.size = size
        self.lowMemoryLimit = lowMemoryLimit
        self.ranges = ranges
    }

    /// RAM below 4 GiB (what CMOS and e820 report as low memory).
    public var belowFourGiB: UInt64 { ranges[0].length }
    /// RAM from 4 GiB up.
    public var aboveFourGiB: UInt64 { ranges.count > 1 ? ranges[1].length : 0 }

    public var description: String {
        ranges.map(\.description).joined(separator: " ")
    }
}
