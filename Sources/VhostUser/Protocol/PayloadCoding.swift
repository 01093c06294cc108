/// Reads little-endian fields front to back from a payload whose size the caller has
/// already checked; reading past the end yields zeros rather than trapping, so a size
/// check forgotten elsewhere cannot crash the backend.
struct PayloadReader {
    private let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func u32() -> UInt32 { UInt32(truncatingIfNeeded: read(4)) }
    mutating func u64() -> UInt64 { read(8) }

    /// `count` raw bytes (zero-padded past the end).
    mutating func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        for i in 0..<count where offset + i < bytes.count { out[i] = bytes[offset + i] }
        offset += count
        return out
    }

    private mutating func read(_ width: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<width where offset + i < bytes.count {
            v |= UInt64(bytes[offset + i]) << (8 * UInt64(i))
        }
        offset += width
        return v
    }
}

/// Appends little-endian fields to a payload.
struct PayloadWriter {
    private(set) var bytes: [UInt8] = []

    mutating func u32(_ v: UInt32) { append(UInt64(v), width: 4) }
    mutating func u64(_ v: UInt64) { append(v, width: 8) }
    mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }

    private mutating func append(_ v: UInt64, width: Int) {
        for i in 0..<width { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }
}
