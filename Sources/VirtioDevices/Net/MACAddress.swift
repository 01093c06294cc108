/// A 48-bit Ethernet address.
public struct MACAddress: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// Parses `aa:bb:cc:dd:ee:ff`; `nil` when malformed.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        var bytes: [UInt8] = []
        for p in parts {
            guard p.count == 2, let b = UInt8(p, radix: 16) else { return nil }
            bytes.append(b)
        }
        self.bytes = bytes
    }

    /// Wraps six bytes; `nil` for any other count.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 6 else { return nil }
        self.bytes = bytes
    }

    /// The address whose ``key`` is `key` (its low 48 bits).
    init(key: UInt64) {
        bytes = (0..<6).map { UInt8(truncatingIfNeeded: key >> UInt64(40 - 8 * $0)) }
    }

    /// A locally administered unicast address (52:54:00:xx:xx:xx, as QEMU uses) derived from `seed`.
    public static func locallyAdministered(seed: UInt32) -> MACAddress {
        MACAddress(key: 0x5254_0000_0000 | UInt64(seed & 0xFF_FFFF))
    }

    public var isMulticast: Bool { bytes[0] & 1 != 0 }
    public var isBroadcast: Bool { bytes.allSatisfy { $0 == 0xFF } }

    /// The address as a 48-bit integer, first byte most significant (for filtering without
    /// allocation).
    var key: UInt64 { bytes.withUnsafeBytes { Self.key($0) } }

    /// The first six bytes of `raw` as a 48-bit integer.
    static func key(_ raw: UnsafeRawBufferPointer) -> UInt64 {
        var k: UInt64 = 0
        for i in 0..<6 { k = k << 8 | UInt64(raw[i]) }
        return k
    }

    public var description: String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
    }
}
