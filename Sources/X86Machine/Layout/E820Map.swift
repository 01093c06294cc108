/// The BIOS e820 memory map (ACPI 6.5 §15, "System Address Map Interfaces").
public struct E820Map: Sendable, Hashable {
    /// Address range types (ACPI 6.5 table 15.312).
    public enum RangeType: UInt32, Sendable, Hashable {
        case ram = 1
        case reserved = 2
        case acpiReclaimable = 3
        case acpiNVS = 4
        case unusable = 5
    }

    /// One range: `[base, base + length)` of `type`.
    public struct Entry: Sendable, Hashable, CustomStringConvertible {
        public var base: UInt64
        public var length: UInt64
        public var type: RangeType

        public init(base: UInt64, length: UInt64, type: RangeType) {
            self.base = base
            self.length = length
            self.type = type
        }

        public var end: UInt64 { base + length }

        public var description: String {
            "[0x\(String(base, radix: 16))-0x\(String(end &- 1, radix: 16))] \(type)"
        }
    }

    /// Size of one entry in the boot_params table and in `INT 15h, E820h` results.
    public static let entrySize = 20

    /// The entries, sorted by base address.
    public private(set) var entries: [Entry] = []

    public init() {}

    /// Adds a range, keeping the map sorted. Empty ranges are ignored.
    public mutating func add(base: UInt64, length: UInt64, type: RangeType) {
        guard length > 0 else { return }
        let entry = Entry(base: base, length: length, type: type)
        let i = entries.firstIndex { $0.base > base } ?? entries.count
        entries.insert(entry, at: i)
    }

    /// Total bytes of `type`.
    public func total(_ type: RangeType) -> UInt64 {
        entries.filter { $0.type == type }.reduce(0) { $0 + $1.length }
    }

    /// The map as packed `struct boot_e820_entry { u64 addr; u64 size; u32 type; }` records.
    public var bytes: [UInt8] {
        var w = LittleEndianWriter()
        for e in entries {
            w.u64(e.base)
            w.u64(e.length)
            w.u32(e.type.rawValue)
        }
        return w.bytes
    }
}
