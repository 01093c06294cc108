/// Deterministic disk contents for checking data end to end: every 8-byte word is a function
/// of its byte offset on the disk and a seed, so any read of any range written with the same
/// seed can be checked without remembering what was written where.
public struct DataPattern: Sendable, Hashable {
    /// Mixed into every word, so two runs with different seeds write different data.
    public var seed: UInt64

    /// The pattern for `seed`.
    public init(seed: UInt64) { self.seed = seed }

    /// The word at disk byte offset `offset` (a multiple of 8): splitmix64 of offset and seed.
    @inline(__always)
    public func word(at offset: UInt64) -> UInt64 {
        var z = (offset / 8) &+ seed &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Fills `count` bytes (a multiple of 8) at `buffer` with the pattern for disk offset `offset`.
    public func fill(_ buffer: UnsafeMutableRawPointer, count: Int, diskOffset offset: UInt64) {
        for i in stride(from: 0, to: count, by: 8) {
            buffer.storeBytes(of: word(at: offset + UInt64(i)).littleEndian, toByteOffset: i, as: UInt64.self)
        }
    }

    /// The byte index of the first word that differs from the pattern, or `nil` when all match.
    public func firstMismatch(_ buffer: UnsafeRawPointer, count: Int, diskOffset offset: UInt64) -> Int? {
        for i in stride(from: 0, to: count, by: 8)
        where UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: i, as: UInt64.self)) != word(at: offset + UInt64(i)) {
            return i
        }
        return nil
    }

    /// The pattern for `count` bytes at disk offset `offset`, as bytes (for tests and checks of image files).
    public func bytes(count: Int, diskOffset offset: UInt64) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { if let p = $0.baseAddress { fill(p, count: count & ~7, diskOffset: offset) } }
        return out
    }
}
