/// A set of ``DeviceStateRecord``s as bytes: what a snapshot's device-state file holds.
///
/// ```
/// "SWDMDEV\0"            magic (8 bytes)
/// u32 format version     (``formatVersion``)
/// u64 total length       (of the whole archive, checksum included)
/// u32 record count
/// records:  str id, str kind, u32 version, u32 field count,
///           fields: str name, u8 type, value
///           (1 unsigned: u64 · 2 bool: u8 · 3 bytes: u32 length + bytes ·
///            4 string: str · 5 unsigned array: u32 count + u64s)
/// u32 CRC-32 (IEEE) of everything before it
/// ```
/// All integers little-endian; `str` is a u16 length and UTF-8. Parsing checks the checksum
/// first and bounds every length by the bytes that remain, so damage is reported, never read
/// past.
public struct DeviceStateArchive: Sendable, Equatable {
    public static let magic: [UInt8] = Array("SWDMDEV".utf8) + [0]
    public static let formatVersion: UInt32 = 1

    public var records: [DeviceStateRecord]

    public init(records: [DeviceStateRecord] = []) { self.records = records }

    /// The record `id`.
    public func record(_ id: String) throws(DeviceStateError) -> DeviceStateRecord {
        guard let r = records.first(where: { $0.id == id }) else { throw .missingRecord(id: id) }
        return r
    }

    // MARK: Encoding

    public func encoded() -> [UInt8] {
        var out = Self.magic
        Self.put(Self.formatVersion, &out)
        let lengthAt = out.count
        Self.put(UInt64(0), &out)
        Self.put(UInt32(records.count), &out)
        for r in records {
            Self.put(string: r.id, &out)
            Self.put(string: r.kind, &out)
            Self.put(r.version, &out)
            Self.put(UInt32(r.fields.count), &out)
            for f in r.fields {
                Self.put(string: f.name, &out)
                switch f.value {
                case .unsigned(let v):
                    out.append(1)
                    Self.put(v, &out)
                case .bool(let b):
                    out.append(2)
                    out.append(b ? 1 : 0)
                case .bytes(let b):
                    out.append(3)
                    Self.put(UInt32(b.count), &out)
                    out += b
                case .string(let s):
                    out.append(4)
                    Self.put(string: s, &out)
                case .unsignedArray(let a):
                    out.append(5)
                    Self.put(UInt32(a.count), &out)
                    for v in a { Self.put(v, &out) }
                }
            }
        }
        var total: [UInt8] = []
        Self.put(UInt64(out.count + 4), &total)
        out.replaceSubrange(lengthAt..<lengthAt + 8, with: total)
        Self.put(CRC32.checksum(out), &out)
        return out
    }

    private static func put<T: FixedWidthInteger>(_ v: T, _ out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out += $0 }
    }

    private static func put(string s: String, _ out: inout [UInt8]) {
        let bytes = Array(s.utf8.prefix(Int(UInt16.max)))
        put(UInt16(bytes.count), &out)
        out += bytes
    }

    // MARK: Decoding

    /// Parses `bytes`, refusing anything but a complete, undamaged archive of this format.
    public init(decoding bytes: [UInt8]) throws(DeviceStateError) {
        guard bytes.count >= Self.magic.count, Array(bytes[0..<Self.magic.count]) == Self.magic else {
            throw bytes.count < Self.magic.count && Array(Self.magic.prefix(bytes.count)) == bytes
                ? .truncated(offset: bytes.count, needed: Self.magic.count - bytes.count) : .notASnapshot
        }
        let header = Self.magic.count + 4 + 8 + 4
        guard bytes.count >= header + 4 else { throw .truncated(offset: bytes.count, needed: header + 4 - bytes.count) }
        var reader = Reader(bytes: bytes, end: bytes.count - 4)
        reader.offset = Self.magic.count
        let version: UInt32 = try reader.integer()
        guard version == Self.formatVersion else { throw .unsupportedFormat(version: version) }
        let total: UInt64 = try reader.integer()
        guard total <= UInt64(bytes.count) else { throw .truncated(offset: bytes.count, needed: Int(clamping: total - UInt64(bytes.count))) }
        guard total == UInt64(bytes.count) else { throw .trailingBytes(count: bytes.count - Int(total)) }
        let stored = UInt32(bytes[bytes.count - 4]) | UInt32(bytes[bytes.count - 3]) << 8
            | UInt32(bytes[bytes.count - 2]) << 16 | UInt32(bytes[bytes.count - 1]) << 24
        let computed = CRC32.checksum(bytes[0..<(bytes.count - 4)])
        guard stored == computed else { throw .checksumMismatch(stored: stored, computed: computed) }

        let count: UInt32 = try reader.integer()
        var records: [DeviceStateRecord] = []
        var ids: Set<String> = []
        for _ in 0..<count {
            let at = reader.offset
            let id = try reader.string()
            let kind = try reader.string()
            var record = DeviceStateRecord(id: id, kind: kind, version: try reader.integer())
            guard ids.insert(id).inserted else { throw .malformed(offset: at, reason: "a second record for \(id)") }
            let fieldCount: UInt32 = try reader.integer()
            for _ in 0..<fieldCount {
                let fieldAt = reader.offset
                let name = try reader.string()
                guard record.value(name) == nil else { throw .malformed(offset: fieldAt, reason: "field \(name) of \(id) twice") }
                let tag: UInt8 = try reader.integer()
                switch tag {
                case 1: record.set(name, .unsigned(try reader.integer()))
                case 2:
                    let b: UInt8 = try reader.integer()
                    guard b <= 1 else { throw .malformed(offset: reader.offset - 1, reason: "boolean \(b)") }
                    record.set(name, .bool(b == 1))
                case 3:
                    let n: UInt32 = try reader.integer()
                    record.set(name, .bytes(try reader.take(Int(n))))
                case 4: record.set(name, .string(try reader.string()))
                case 5:
                    let n: UInt32 = try reader.integer()
                    let raw = try reader.take(Int(n) * 8)
                    var values: [UInt64] = []
                    values.reserveCapacity(Int(n))
                    for i in 0..<Int(n) {
                        var v: UInt64 = 0
                        for b in 0..<8 { v |= UInt64(raw[i * 8 + b]) << (8 * UInt64(b)) }
                        values.append(v)
                    }
                    record.set(name, .unsignedArray(values))
                default: throw .malformed(offset: reader.offset - 1, reason: "unknown field type \(tag)")
                }
            }
            records.append(record)
        }
        guard reader.offset == reader.end else { throw .trailingBytes(count: reader.end - reader.offset) }
        self.records = records
    }

    private struct Reader {
        let bytes: [UInt8]
        let end: Int
        var offset = 0

        mutating func take(_ n: Int) throws(DeviceStateError) -> [UInt8] {
            guard n >= 0, n <= end - offset else { throw .truncated(offset: offset, needed: n - (end - offset)) }
            defer { offset += n }
            return Array(bytes[offset..<offset + n])
        }

        mutating func integer<T: FixedWidthInteger>() throws(DeviceStateError) -> T {
            let raw = try take(MemoryLayout<T>.size)
            var v: T = 0
            for (i, b) in raw.enumerated() { v |= T(b) << (8 * i) }
            return v
        }

        mutating func string() throws(DeviceStateError) -> String {
            let n: UInt16 = try integer()
            let at = offset
            let raw = try take(Int(n))
            guard let s = String(validating: raw, as: UTF8.self) else { throw .malformed(offset: at, reason: "invalid UTF-8 in a name") }
            return s
        }
    }
}

/// CRC-32 (IEEE 802.3, reflected, as zlib's `crc32`).
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}
