/// What `O_DIRECT` demands of a transfer on one file (statx `STATX_DIOALIGN`): buffer
/// addresses aligned to ``memory``, the file offset and each buffer's length to ``offset``
/// (the device's logical block size, as Linux's `iov_iter_alignment` checks them).
public struct DirectIOAlignment: Sendable, Hashable {
    /// Buffer address alignment (a power of two).
    public var memory: Int
    /// File offset and buffer length alignment (a power of two).
    public var offset: UInt64

    public init(memory: Int, offset: UInt64) {
        self.memory = memory
        self.offset = offset
    }

    /// True when `buffers` and `position` can go to the file as they are; otherwise the
    /// transfer bounces through an aligned buffer (guest buffers are wherever the guest's
    /// allocator put them, and virtio-blk lets a segment start at any byte).
    public func admits(_ buffers: [UnsafeMutableRawBufferPointer], at position: UInt64) -> Bool {
        let addressMask = UInt(memory - 1), lengthMask = UInt(offset - 1)
        guard position & (offset - 1) == 0 else { return false }
        for b in buffers where b.count > 0 {
            guard let base = b.baseAddress, UInt(bitPattern: base) & addressMask == 0, UInt(b.count) & lengthMask == 0 else {
                return false
            }
        }
        return true
    }

    /// The alignment of bounce buffers: enough for any memory alignment the kernel asks.
    var bufferAlignment: Int { max(memory, 4096) }
}
