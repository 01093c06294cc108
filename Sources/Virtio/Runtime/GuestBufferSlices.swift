import DeviceModel

extension GuestMemory {
    /// Calls `body` with the host slices backing `buffers`, in order — the iovec list for a
    /// zero-copy `preadv`/`pwritev`/`readv`/`writev` over a descriptor chain. The slices are
    /// valid only during the call (``GuestMemory`` may map on demand). Adjacent buffers are
    /// merged first; nesting depth is bounded by the chain length, itself bounded by the
    /// queue size.
    public func withSlices<R>(
        of buffers: [GuestBuffer], _ body: ([UnsafeMutableRawBufferPointer]) -> R
    ) throws(GuestMemoryError) -> R {
        var ranges: [(address: UInt64, length: Int)] = []
        for b in buffers where b.length > 0 {
            if let last = ranges.last, last.address &+ UInt64(last.length) == b.address {
                ranges[ranges.count - 1].length += Int(b.length)
            } else {
                ranges.append((b.address, Int(b.length)))
            }
        }
        var collected: [UnsafeMutableRawBufferPointer] = []
        collected.reserveCapacity(ranges.count)
        return try gather(ranges[...], &collected, body)
    }

    private func gather<R>(
        _ ranges: ArraySlice<(address: UInt64, length: Int)>,
        _ collected: inout [UnsafeMutableRawBufferPointer],
        _ body: ([UnsafeMutableRawBufferPointer]) -> R
    ) throws(GuestMemoryError) -> R {
        guard let first = ranges.first else { return body(collected) }
        var inner = collected
        let result: Result<R, GuestMemoryError> = try withSlices(at: first.address, length: first.length) { slices in
            inner.append(contentsOf: slices)
            return Result { () throws(GuestMemoryError) in try gather(ranges.dropFirst(), &inner, body) }
        }
        return try result.get()
    }
}
