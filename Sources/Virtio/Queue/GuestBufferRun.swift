/// Consecutive bytes of a chain's buffers, as guest buffers, without copying the chain's
/// buffer list: the data part of a request, which ``ChainReader/takeBuffers(count:)`` and
/// ``ChainWriter/takeBuffers(count:)`` hand out for zero-copy I/O
/// (``DeviceModel/GuestMemory/withSlices(of:_:)``).
///
/// Iterating yields the non-empty pieces in order: the first and last may be parts of a
/// buffer, the others are whole buffers.
public struct GuestBufferRun: Sequence, Sendable {
    private let buffers: [GuestBuffer]
    /// The buffer holding the first byte, and how far into it that byte lies.
    private let first: Int
    private let offset: UInt32
    /// Bytes in the run.
    public let byteCount: Int

    /// The run of `byteCount` bytes starting `offset` bytes into `buffers[first]`; the
    /// buffers from there on hold at least `byteCount` bytes (checked by the cursor).
    init(buffers: [GuestBuffer], first: Int, offset: UInt32, byteCount: Int) {
        self.buffers = buffers
        self.first = first
        self.offset = offset
        self.byteCount = byteCount
    }

    /// A run of no bytes.
    public init() {
        self.init(buffers: [], first: 0, offset: 0, byteCount: 0)
    }

    /// Walks the run's pieces.
    public struct Iterator: IteratorProtocol {
        private let buffers: [GuestBuffer]
        private var index: Int
        private var offset: UInt32
        private var remaining: Int

        init(_ run: GuestBufferRun) {
            buffers = run.buffers
            index = run.first
            offset = run.offset
            remaining = run.byteCount
        }

        /// The next non-empty piece, or `nil` after the run's last byte.
        public mutating func next() -> GuestBuffer? {
            while remaining > 0 && index < buffers.count {
                let b = buffers[index]
                let n = Swift.min(Int(b.length - Swift.min(offset, b.length)), remaining)
                let piece = GuestBuffer(address: b.address &+ UInt64(offset), length: UInt32(n))
                index += 1
                offset = 0
                remaining -= n
                if n > 0 { return piece }
            }
            return nil
        }
    }

    /// The pieces from the first byte on.
    public func makeIterator() -> Iterator { Iterator(self) }
}
