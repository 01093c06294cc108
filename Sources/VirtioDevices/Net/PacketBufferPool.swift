/// Host staging buffers for received frames, reused through a free list so the data path
/// allocates nothing per packet. Owned by one thread (the device's I/O thread).
final class PacketBufferPool {
    /// Largest frame a tap delivers with GSO: 64 KiB payload plus headers and the vnet header.
    static let bufferSize = 65_536 + 256
    private var free: [UnsafeMutableRawBufferPointer] = []
    private var allocated = 0
    let limit: Int

    init(limit: Int) { self.limit = limit }

    deinit {
        for b in free { b.deallocate() }
    }

    /// A buffer from the free list, or a new one while under `limit`; `nil` when exhausted.
    func take() -> UnsafeMutableRawBufferPointer? {
        if let b = free.popLast() { return b }
        guard allocated < limit else { return nil }
        allocated += 1
        return UnsafeMutableRawBufferPointer.allocate(byteCount: Self.bufferSize, alignment: 64)
    }

    /// Returns `buffer` to the free list.
    func give(_ buffer: UnsafeMutableRawBufferPointer) { free.append(buffer) }
}
