/// A first-fit allocator over a range of guest RAM, from which the test driver places rings,
/// indirect tables and request buffers — the driver-side counterpart of the guest kernel's
/// DMA allocations.
///
/// Not thread-safe: owned by one test driver.
public final class VirtioTestArena {
    /// The guest-physical range handed out.
    public let range: Range<UInt64>
    // Disjoint, sorted free blocks.
    private var free: [Range<UInt64>]
    private var allocations: [UInt64: UInt64] = [:]

    /// An arena over `range`, which must lie in guest RAM.
    public init(range: Range<UInt64>) {
        self.range = range
        self.free = range.isEmpty ? [] : [range]
    }

    /// Bytes not allocated.
    public var freeBytes: UInt64 { free.reduce(0) { $0 + UInt64($1.count) } }

    /// Allocates `length` bytes (at least 1) aligned to `alignment` (a power of two).
    public func allocate(_ length: Int, alignment: UInt64 = 16) throws(VirtioTestDriverError) -> UInt64 {
        let size = UInt64(max(length, 1))
        let align = max(alignment, 1)
        for (i, block) in free.enumerated() {
            let start = (block.lowerBound + align - 1) & ~(align - 1)
            guard start >= block.lowerBound, start <= block.upperBound, block.upperBound - start >= size else { continue }
            var replacement: [Range<UInt64>] = []
            if start > block.lowerBound { replacement.append(block.lowerBound..<start) }
            if start + size < block.upperBound { replacement.append((start + size)..<block.upperBound) }
            free.replaceSubrange(i...i, with: replacement)
            allocations[start] = size
            return start
        }
        throw .arenaExhausted(requested: length)
    }

    /// Returns an allocation made by ``allocate(_:alignment:)``; unknown addresses are ignored.
    public func release(_ address: UInt64) {
        guard let size = allocations.removeValue(forKey: address) else { return }
        var block = address..<(address + size)
        var i = free.firstIndex { $0.lowerBound > address } ?? free.count
        if i > 0, free[i - 1].upperBound == block.lowerBound {
            block = free[i - 1].lowerBound..<block.upperBound
            free.remove(at: i - 1)
            i -= 1
        }
        if i < free.count, free[i].lowerBound == block.upperBound {
            block = block.lowerBound..<free[i].upperBound
            free.remove(at: i)
        }
        free.insert(block, at: i)
    }
}
