/// Request latencies in nanoseconds, bucketed log-linearly (16 buckets per power of two, so a
/// percentile is within about 6 % of the true value) in one array allocated up front:
/// recording is a few integer operations and never allocates, so the load generator's hot
/// loop stays allocation-free.
public struct LatencyHistogram: Sendable {
    /// Values below 2^linearBits get a bucket each.
    static let linearBits = 5
    static let subBuckets = 16
    static let subBits = 4
    /// Up to 2^48 ns (78 hours); anything longer lands in the last bucket.
    static let maxExponent = 48
    static let bucketCount = (1 << linearBits) + (maxExponent - linearBits) * subBuckets

    private var buckets = [UInt64](repeating: 0, count: bucketCount)
    /// Values recorded.
    public private(set) var count: UInt64 = 0
    /// Their sum (for the exact mean).
    public private(set) var sum: UInt64 = 0
    /// The largest and smallest value recorded.
    public private(set) var maximum: UInt64 = 0
    public private(set) var minimum: UInt64 = .max

    /// An empty histogram (its one allocation).
    public init() {}

    /// Records one latency.
    @inline(__always)
    public mutating func record(_ nanoseconds: UInt64) {
        buckets[Self.bucket(of: nanoseconds)] &+= 1
        count &+= 1
        sum &+= nanoseconds
        if nanoseconds > maximum { maximum = nanoseconds }
        if nanoseconds < minimum { minimum = nanoseconds }
    }

    @inline(__always)
    static func bucket(of v: UInt64) -> Int {
        if v < 1 << linearBits { return Int(v) }
        let exponent = 63 - v.leadingZeroBitCount               // ≥ linearBits
        guard exponent < maxExponent else { return bucketCount - 1 }
        let sub = Int((v >> UInt64(exponent - subBits)) & UInt64(subBuckets - 1))
        return (1 << linearBits) + (exponent - linearBits) * subBuckets + sub
    }

    /// The smallest value bucket `index` holds and the first value past it.
    static func range(of index: Int) -> (low: UInt64, high: UInt64) {
        if index < 1 << linearBits { return (UInt64(index), UInt64(index) + 1) }
        let i = index - (1 << linearBits)
        let exponent = linearBits + i / subBuckets
        let sub = UInt64(i % subBuckets)
        let width = UInt64(1) << UInt64(exponent - subBits)
        let low = (UInt64(1) << UInt64(exponent)) + sub * width
        return (low, low + width)
    }

    /// The mean in nanoseconds (0 when empty).
    public var mean: Double { count == 0 ? 0 : Double(sum) / Double(count) }

    /// The value below which `fraction` (0…1) of the recordings fall: the middle of the
    /// bucket holding that rank, clamped to the observed minimum and maximum; 0 and 1 give
    /// the exact minimum and maximum (0 when empty).
    public func percentile(_ fraction: Double) -> UInt64 {
        guard count > 0 else { return 0 }
        if fraction <= 0 { return minimum }
        if fraction >= 1 { return maximum }
        let rank = max(1, UInt64((Double(count) * min(max(fraction, 0), 1)).rounded(.up)))
        var seen: UInt64 = 0
        for (i, n) in buckets.enumerated() where n > 0 {
            seen += n
            if seen >= rank {
                let r = Self.range(of: i)
                return min(max(r.low + (r.high - r.low) / 2, minimum), maximum)
            }
        }
        return maximum
    }

    /// Adds another histogram's recordings.
    public mutating func merge(_ other: LatencyHistogram) {
        for i in buckets.indices { buckets[i] &+= other.buckets[i] }
        count &+= other.count
        sum &+= other.sum
        maximum = max(maximum, other.maximum)
        minimum = min(minimum, other.minimum)
    }
}
