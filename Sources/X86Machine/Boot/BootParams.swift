/// The zero page (`struct boot_params`, Documentation/arch/x86/zero-page.rst) a 64-bit kernel
/// receives in RSI.
public struct BootParams: Sendable, Hashable {
    public static let size = 4096
    /// Most e820 entries the zero page holds (`E820_MAX_ENTRIES_ZEROPAGE`).
    public static let maximumE820Entries = 128
    /// `type_of_loader` for a boot loader without an assigned ID.
    public static let undefinedLoader: UInt8 = 0xFF
    /// `vid_mode` "normal VGA" (what loaders pass when there is nothing to choose).
    public static let normalVideoMode: UInt16 = 0xFFFF

    /// Offsets of the fields set here.
    enum Offset {
        static let acpiRSDPAddress = 0x070
        static let extRamdiskImage = 0x0C0
        static let extRamdiskSize = 0x0C4
        static let extCmdLinePtr = 0x0C8
        static let e820Entries = 0x1E8
        static let vidMode = 0x1FA
        static let typeOfLoader = 0x210
        static let loadFlags = 0x211
        static let ramdiskImage = 0x218
        static let ramdiskSize = 0x21C
        static let cmdLinePtr = 0x228
        static let e820Table = 0x2D0
    }

    /// The page, little-endian.
    public private(set) var bytes: [UInt8]

    /// A zero page holding a copy of `header`, with `type_of_loader` 0xFF and `vid_mode`
    /// "normal".
    public init(header: LinuxSetupHeader) {
        var w = LittleEndianWriter()
        w.zeros(Self.size)
        for (i, b) in header.rawBytes.enumerated() { w.set(b, at: LinuxSetupHeader.offset + i) }
        w.set(Self.undefinedLoader, at: Offset.typeOfLoader)
        w.set(Self.normalVideoMode, at: Offset.vidMode)
        bytes = w.bytes
    }

    /// An existing zero page (e.g. read back from guest memory); `nil` unless 4096 bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.size else { return nil }
        self.bytes = bytes
    }

    /// Sets `cmd_line_ptr` (and `ext_cmd_line_ptr` for the high half).
    public mutating func setCommandLine(address: UInt64) {
        set(UInt32(truncatingIfNeeded: address), at: Offset.cmdLinePtr)
        set(UInt32(truncatingIfNeeded: address >> 32), at: Offset.extCmdLinePtr)
    }

    /// Sets `ramdisk_image`/`ramdisk_size` and their `ext_` high halves.
    public mutating func setRamdisk(address: UInt64, size: UInt64) {
        set(UInt32(truncatingIfNeeded: address), at: Offset.ramdiskImage)
        set(UInt32(truncatingIfNeeded: size), at: Offset.ramdiskSize)
        set(UInt32(truncatingIfNeeded: address >> 32), at: Offset.extRamdiskImage)
        set(UInt32(truncatingIfNeeded: size >> 32), at: Offset.extRamdiskSize)
    }

    /// Sets `acpi_rsdp_addr` (read by kernels since 5.0; older ones scan 0xE0000–0xFFFFF).
    public mutating func setACPIRSDPAddress(_ address: UInt64) {
        var w = LittleEndianWriter()
        w.u64(address)
        bytes.replaceSubrange(Offset.acpiRSDPAddress..<Offset.acpiRSDPAddress + 8, with: w.bytes)
    }

    /// Stores `map` in `e820_table` and `e820_entries`.
    public mutating func setE820(_ map: E820Map) throws(LinuxBootError) {
        guard map.entries.count <= Self.maximumE820Entries else {
            throw .tooManyE820Entries(map.entries.count, maximum: Self.maximumE820Entries)
        }
        let table = map.bytes
        bytes.replaceSubrange(Offset.e820Table..<Offset.e820Table + table.count, with: table)
        bytes[Offset.e820Entries] = UInt8(map.entries.count)
    }

    /// The `loadflags` byte.
    public var loadFlags: UInt8 { bytes[Offset.loadFlags] }

    /// Reads a little-endian field (for tests and diagnostics).
    public func field<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T? {
        let r = LittleEndianReader(bytes: bytes)
        switch T.bitWidth {
        case 8: return r.u8(offset).map { T(truncatingIfNeeded: $0) }
        case 16: return r.u16(offset).map { T(truncatingIfNeeded: $0) }
        case 32: return r.u32(offset).map { T(truncatingIfNeeded: $0) }
        default: return r.u64(offset).map { T(truncatingIfNeeded: $0) }
        }
    }

    private mutating func set(_ v: UInt32, at offset: Int) {
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: v >> UInt32(8 * i)) }
    }
}
