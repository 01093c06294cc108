import DeviceModel

extension GuestMemory {
    /// Calls `body` with the host slices backing `buffers`, in order — the iovec list for a
    /// zero-copy `preadv`/`pwritev`/`readv`/`writev` over a descriptor chain. The slices are
    /// valid only during the call (``GuestMemory`` may map on demand). Adjacent buffers are
    /// merged first; nesting depth is bounded by the chain length, itself bounded by the
    /// queue size.
    public func withSlices<R>(
        of buffers: some Sequence<GuestBuffer>, _ body: ([UnsafeMutableRawBufferPointer]) -> R
    ) throws(GuestMemoryError) -> R {
        var slices: [UnsafeMutableRawBufferPointer] = []
        return try withSlices(of: buffers, gatheringInto: &slices, body)
    }

    /// As ``withSlices(of:_:)``, with the slice list gathered into `slices` (emptied first,
    /// its storage kept): storage reused from request to request makes the call allocate
    /// nothing once it has grown to the longest chain's length. `body` gets `slices` itself;
    /// it must not keep it, or the next call copies.
    public func withSlices<R>(
        of buffers: some Sequence<GuestBuffer>, gatheringInto slices: inout [UnsafeMutableRawBufferPointer],
        _ body: ([UnsafeMutableRawBufferPointer]) -> R
    ) throws(GuestMemoryError) -> R {
        slices.removeAll(keepingCapacity: true)
        var pieces = buffers.makeIterator()
        let first = pieces.next()
        return try gather(&pieces, from: first, into: &slices, body)
    }

    // One nesting level per run of adjacent buffers, so that every slice stays mapped while
    // `body` runs; the list grows in place (no copy per level).
    private func gather<Pieces: IteratorProtocol<GuestBuffer>, R>(
        _ pieces: inout Pieces, from start: GuestBuffer?, into slices: inout [UnsafeMutableRawBufferPointer],
        _ body: ([UnsafeMutableRawBufferPointer]) -> R
    ) throws(GuestMemoryError) -> R {
        var next = start
        while let b = next, b.length == 0 { next = pieces.next() }
        guard let run = next else { return body(slices) }
        var length = Int(run.length)
        next = pieces.next()
        while let b = next, b.length == 0 || run.address &+ UInt64(length) == b.address {
            length += Int(b.length)
            next = pieces.next()
        }
        let following = next
        func viaSlices() throws(GuestMemoryError) -> Result<R, GuestMemoryError> {
            try withSlices(at: run.address, length: length) { pieceSlices in
                slices.append(contentsOf: pieceSlices)
                return Result { () throws(GuestMemoryError) in try gather(&pieces, from: following, into: &slices, body) }
            }
        }
        guard isMappedUpFront else { return try viaSlices().get() }
        let result: Result<R, GuestMemoryError>
        do {
            // Almost every run lies in one mapping: no slice array from the memory then.
            result = try withContiguousBytes(at: run.address, length: length) { bytes in
                slices.append(bytes)
                return Result { () throws(GuestMemoryError) in try gather(&pieces, from: following, into: &slices, body) }
            }
        } catch .notContiguous {
            result = try viaSlices()
        }
        return try result.get()
    }
}
