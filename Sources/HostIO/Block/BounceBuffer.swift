/// An aligned, zeroed host buffer that stands in for guest buffers `O_DIRECT` cannot take
/// as they are: filled from them before a write (``gather(from:)``), copied out to them
/// after a read (``scatter(into:)``). Freed with the object.
public final class BounceBuffer: @unchecked Sendable {
    // SAFETY (@unchecked): the bytes are owned here and used by one transfer at a time.
    /// The aligned bytes.
    public let bytes: UnsafeMutableRawBufferPointer

    private let storage: UnsafeMutableRawBufferPointer

    /// `length` zeroed bytes aligned to `alignment` (a power of two).
    public init(length: Int, alignment: Int) {
        // At least one byte is allocated, so even an empty buffer has an address.
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(length, 1), alignment: alignment)
        storage.initializeMemory(as: UInt8.self, repeating: 0)
        bytes = UnsafeMutableRawBufferPointer(rebasing: storage[0..<max(length, 0)])
    }

    deinit { storage.deallocate() }

    /// Copies `buffers`, concatenated, to the start of the bounce buffer.
    public func gather(from buffers: [UnsafeMutableRawBufferPointer]) {
        var at = 0
        for b in buffers where b.count > 0 && at < bytes.count {
            let n = min(b.count, bytes.count - at)
            UnsafeMutableRawBufferPointer(rebasing: bytes[at..<(at + n)]).copyMemory(from: UnsafeRawBufferPointer(rebasing: b[0..<n]))
            at += n
        }
    }

    /// Copies the start of the bounce buffer out to `buffers`, in order.
    public func scatter(into buffers: [UnsafeMutableRawBufferPointer]) {
        var at = 0
        for b in buffers where b.count > 0 && at < bytes.count {
            let n = min(b.count, bytes.count - at)
            UnsafeMutableRawBufferPointer(rebasing: b[0..<n]).copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[at..<(at + n)]))
            at += n
        }
    }
}
