/// A non-empty half-open range of addresses `[base, base + length)`.
public struct AddressRange: Sendable, Hashable, CustomStringConvertible {
    /// The first address.
    public let base: UInt64
    /// Number of addresses (at least 1).
    public let length: UInt64

    /// Creates a range; `nil` when `length` is zero or `base + length` overflows past 2^64.
    public init?(base: UInt64, length: UInt64) {
        guard length > 0 else { return nil }
        let (_, overflow) = base.addingReportingOverflow(length - 1)
        guard !overflow else { return nil }
        self.base = base
        self.length = length
    }

    /// The last address in the range (inclusive); never overflows.
    public var last: UInt64 { base + (length - 1) }

    /// True when `address` lies in the range.
    public func contains(_ address: UInt64) -> Bool { address >= base && address <= last }

    /// True when `[address, address + size)` lies entirely inside the range.
    public func contains(_ address: UInt64, size: UInt64) -> Bool {
        guard size > 0, contains(address) else { return size == 0 && contains(address) }
        return size - 1 <= last - address
    }

    /// True when the two ranges share at least one address.
    public func overlaps(_ other: AddressRange) -> Bool { base <= other.last && other.base <= last }

    public var description: String {
        "[0x\(String(base, radix: 16)), 0x\(String(last, radix: 16))]"
    }
}
