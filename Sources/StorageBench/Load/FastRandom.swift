/// xorshift64* — a seeded, allocation-free, syscall-free random source for request offsets.
/// `SystemRandomNumberGenerator` would make a `getrandom` call per offset, which a load
/// generator measuring microsecond latencies cannot afford; statistical quality beyond
/// "spread over the disk" does not matter here.
struct FastRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }

    @inline(__always)
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }

    /// A value in 0..<bound (bound > 0); the modulo bias is negligible for disk-sized bounds.
    @inline(__always)
    mutating func next(below bound: UInt64) -> UInt64 { next() % bound }
}
