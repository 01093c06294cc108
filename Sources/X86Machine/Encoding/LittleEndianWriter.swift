/// Builds a byte image of a firmware structure field by field, little-endian.
///
/// Used by the table builders (ACPI, MP, e820, boot_params); every multi-byte field is
/// written least significant byte first, as x86 firmware structures require.
struct LittleEndianWriter {
    private(set) var bytes: [UInt8] = []

    init() {}

    var count: Int { bytes.count }

    mutating func u8(_ v: UInt8) { bytes.append(v) }

    mutating func u16(_ v: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: v))
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
    }

    mutating func u32(_ v: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) }
    }

    mutating func u64(_ v: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
    }

    mutating func append<C: Collection>(_ data: C) where C.Element == UInt8 { bytes.append(contentsOf: data) }

    /// Writes `text` as ASCII into a field of exactly `length` bytes, padded with `pad`.
    /// Longer text is cut; non-ASCII characters become `?`.
    mutating func ascii(_ text: String, length: Int, pad: UInt8 = 0x20) {
        var field = text.unicodeScalars.prefix(length).map { $0.isASCII ? UInt8($0.value) : UInt8(ascii: "?") }
        field += [UInt8](repeating: pad, count: length - field.count)
        bytes.append(contentsOf: field)
    }

    mutating func zeros(_ n: Int) { bytes.append(contentsOf: repeatElement(0, count: n)) }

    /// Pads with zeros up to a multiple of `alignment`.
    mutating func align(to alignment: Int) {
        let rem = bytes.count % alignment
        if rem != 0 { zeros(alignment - rem) }
    }

    mutating func set(_ v: UInt8, at offset: Int) { bytes[offset] = v }

    mutating func set(_ v: UInt16, at offset: Int) {
        bytes[offset] = UInt8(truncatingIfNeeded: v)
        bytes[offset + 1] = UInt8(truncatingIfNeeded: v >> 8)
    }

    mutating func set(_ v: UInt32, at offset: Int) {
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: v >> UInt32(8 * i)) }
    }

    mutating func set(_ v: UInt64, at offset: Int) {
        for i in 0..<8 { bytes[offset + i] = UInt8(truncatingIfNeeded: v >> UInt64(8 * i)) }
    }
}

/// The byte that makes the 8-bit sum of `bytes` zero (ACPI and MP table checksums).
func checksumByte<C: Collection>(_ bytes: C) -> UInt8 where C.Element == UInt8 {
    var sum: UInt8 = 0
    for b in bytes { sum &+= b }
    return 0 &- sum
}

/// Reads little-endian fields out of a byte array with bounds checks (no traps on short input).
struct LittleEndianReader {
    let bytes: [UInt8]

    func u8(_ offset: Int) -> UInt8? {
        offset >= 0 && offset < bytes.count ? bytes[offset] : nil
    }

    func u16(_ offset: Int) -> UInt16? { value(offset, width: 2).map { UInt16(truncatingIfNeeded: $0) } }
    func u32(_ offset: Int) -> UInt32? { value(offset, width: 4).map { UInt32(truncatingIfNeeded: $0) } }
    func u64(_ offset: Int) -> UInt64? { value(offset, width: 8) }

    private func value(_ offset: Int, width: Int) -> UInt64? {
        guard offset >= 0, offset <= bytes.count - width else { return nil }
        var v: UInt64 = 0
        for i in (0..<width).reversed() { v = v << 8 | UInt64(bytes[offset + i]) }
        return v
    }
}
