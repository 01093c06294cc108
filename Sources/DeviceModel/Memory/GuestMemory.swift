import CDeviceModelShims

/// The only way device code touches guest RAM.
///
/// Implementations check every range (overflow-safe) against the RAM they map and refuse
/// anything that leaves it. Host pointers handed to the closures are valid only for the
/// duration of the call and must not escape it: backends that map on demand (Xen) may
/// drop mappings between calls. Closures do not throw: compute inside, decide outside.
public protocol GuestMemory: AnyObject, Sendable {
    /// Calls `body` with the host bytes backing `[gpa, gpa + length)`, which must lie in a
    /// single host mapping (else ``GuestMemoryError/notContiguous(gpa:length:)``).
    func withContiguousBytes<R>(
        at gpa: UInt64, length: Int, _ body: (UnsafeMutableRawBufferPointer) -> R
    ) throws(GuestMemoryError) -> R

    /// Calls `body` with the host slices that together back `[gpa, gpa + length)` in order
    /// (scatter-gather without copying; suitable for `preadv`/`pwritev`).
    func withSlices<R>(
        at gpa: UInt64, length: Int, _ body: ([UnsafeMutableRawBufferPointer]) -> R
    ) throws(GuestMemoryError) -> R

    /// True once the memory became unusable under the device: a peer truncated the file
    /// behind a shared mapping and an access faulted (see ``MappedGuestMemory/isPoisoned``).
    var isPoisoned: Bool { get }

    /// True when all of the memory is mapped once, up front (KVM slots, vhost-user regions):
    /// then ``withContiguousBytes(at:length:_:)`` is the cheapest access to any range inside
    /// one mapping, with no slice array to allocate. False (the default) for memory that maps
    /// on demand (Xen), whose slice lists reuse cached mappings a contiguous view of a range
    /// crossing them would have to map anew.
    var isMappedUpFront: Bool { get }
}

extension GuestMemory {
    /// Memory that no other process can shrink never becomes poisoned.
    public var isPoisoned: Bool { false }

    /// Unless it says otherwise, memory is taken to map on demand.
    public var isMappedUpFront: Bool { false }

    /// Copies `buffer.count` bytes from guest RAM at `gpa` into `buffer`.
    public func read(into buffer: UnsafeMutableRawBufferPointer, from gpa: UInt64) throws(GuestMemoryError) {
        guard buffer.count > 0 else { return }
        // Fast path without the slice array: almost every access lies in one mapping.
        do {
            return try withContiguousBytes(at: gpa, length: buffer.count) { source in
                buffer.baseAddress!.copyMemory(from: source.baseAddress!, byteCount: source.count)
            }
        } catch .notContiguous {
            // Spans adjacent mappings: copy piecewise below.
        }
        try withSlices(at: gpa, length: buffer.count) { slices in
            var done = 0
            for s in slices {
                buffer.baseAddress!.advanced(by: done).copyMemory(from: s.baseAddress!, byteCount: s.count)
                done += s.count
            }
        }
    }

    /// Copies `bytes` into guest RAM at `gpa`.
    public func write(_ bytes: UnsafeRawBufferPointer, to gpa: UInt64) throws(GuestMemoryError) {
        guard bytes.count > 0 else { return }
        do {
            return try withContiguousBytes(at: gpa, length: bytes.count) { target in
                target.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            }
        } catch .notContiguous {
            // Spans adjacent mappings: copy piecewise below.
        }
        try withSlices(at: gpa, length: bytes.count) { slices in
            var done = 0
            for s in slices {
                s.baseAddress!.copyMemory(from: bytes.baseAddress!.advanced(by: done), byteCount: s.count)
                done += s.count
            }
        }
    }

    /// Reads `count` bytes at `gpa` into a new array.
    ///
    /// The range is checked before anything is allocated, so a guest-supplied length cannot
    /// make the device model allocate more than the guest's RAM.
    public func readBytes(at gpa: UInt64, count: Int) throws(GuestMemoryError) -> [UInt8] {
        guard count >= 0 else { throw .overflow(gpa: gpa, length: count) }
        return try withSlices(at: gpa, length: count) { slices in
            var out: [UInt8] = []
            out.reserveCapacity(count)
            for s in slices { out.append(contentsOf: s) }
            return out
        }
    }

    /// Writes `bytes` at `gpa`.
    public func writeBytes<C: Collection>(_ bytes: C, at gpa: UInt64) throws(GuestMemoryError) where C.Element == UInt8 {
        let array = Array(bytes)
        let result = array.withUnsafeBytes { p in
            Result { () throws(GuestMemoryError) in try write(p, to: gpa) }
        }
        try result.get()
    }

    /// Fills `[gpa, gpa + length)` with `byte`.
    public func fill(_ byte: UInt8, at gpa: UInt64, length: Int) throws(GuestMemoryError) {
        guard length >= 0 else { throw .overflow(gpa: gpa, length: length) }
        guard length > 0 else { return }
        try withSlices(at: gpa, length: length) { slices in
            for s in slices { s.initializeMemory(as: UInt8.self, repeating: byte) }
        }
    }

    /// Reads a little-endian integer at `gpa` (any alignment).
    public func read<T: FixedWidthInteger>(_ type: T.Type, at gpa: UInt64) throws(GuestMemoryError) -> T {
        var v: T = 0
        try withUnsafeMutableBytes(of: &v) { (p: UnsafeMutableRawBufferPointer) throws(GuestMemoryError) in try read(into: p, from: gpa) }
        return T(littleEndian: v)
    }

    /// Writes `value` little-endian at `gpa` (any alignment).
    public func write<T: FixedWidthInteger>(_ value: T, at gpa: UInt64) throws(GuestMemoryError) {
        var v = value.littleEndian
        try withUnsafeBytes(of: &v) { (p: UnsafeRawBufferPointer) throws(GuestMemoryError) in try write(p, to: gpa) }
    }

    /// Loads a little-endian `UInt16` with acquire ordering (virtio ring indices).
    public func loadAcquire(_ type: UInt16.Type, at gpa: UInt64) throws(GuestMemoryError) -> UInt16 {
        guard gpa % 2 == 0 else { throw .misaligned(gpa: gpa, size: 2) }
        return try withContiguousBytes(at: gpa, length: 2) { UInt16(littleEndian: swiftdm_load_acquire_u16($0.baseAddress!)) }
    }

    /// Stores `value` little-endian with release ordering (virtio ring indices).
    public func storeRelease(_ value: UInt16, at gpa: UInt64) throws(GuestMemoryError) {
        guard gpa % 2 == 0 else { throw .misaligned(gpa: gpa, size: 2) }
        try withContiguousBytes(at: gpa, length: 2) { swiftdm_store_release_u16($0.baseAddress!, value.littleEndian) }
    }

    /// Calls `body` with the host slices backing several guest ranges, concatenated in order
    /// (a descriptor chain's buffers → one iovec array for `readv`/`writev`/`preadv`).
    public func withSlices<R>(
        covering ranges: [(gpa: UInt64, length: Int)], _ body: ([UnsafeMutableRawBufferPointer]) -> R
    ) throws(GuestMemoryError) -> R {
        var gathered: [UnsafeMutableRawBufferPointer] = []
        gathered.reserveCapacity(ranges.count)
        return try gatherSlices(ranges, from: 0, into: &gathered, body)
    }

    // Nests one `withSlices` scope per range so every pointer stays valid while `body` runs.
    private func gatherSlices<R>(
        _ ranges: [(gpa: UInt64, length: Int)], from index: Int, into gathered: inout [UnsafeMutableRawBufferPointer],
        _ body: ([UnsafeMutableRawBufferPointer]) -> R
    ) throws(GuestMemoryError) -> R {
        guard index < ranges.count else { return body(gathered) }
        var inner = gathered
        let result: Result<R, GuestMemoryError> = try withSlices(at: ranges[index].gpa, length: ranges[index].length) { slices in
            inner.append(contentsOf: slices)
            return Result { () throws(GuestMemoryError) in try gatherSlices(ranges, from: index + 1, into: &inner, body) }
        }
        return try result.get()
    }

    /// True when all of `[gpa, gpa + length)` is guest RAM.
    public func contains(_ gpa: UInt64, length: Int) -> Bool {
        guard isMappedUpFront else { return (try? withSlices(at: gpa, length: length) { _ in true }) ?? false }
        // Almost every range lies in one mapping: checked without building a slice array
        // (every descriptor of every chain comes through here).
        do {
            return try withContiguousBytes(at: gpa, length: length) { _ in true }
        } catch .notContiguous {
            return (try? withSlices(at: gpa, length: length) { _ in true }) ?? false
        } catch {
            return false
        }
    }
}

/// Memory ordering between ring accesses and interrupts, independent of any backend.
public enum MemoryBarrier {
    /// Full barrier: used between publishing the used index and reading the driver's
    /// event index / flags (virtio 1.2 §2.7.7/§2.7.10).
    @inline(__always) public static func full() { swiftdm_fence_seq_cst() }
    /// Read barrier: loads after it see data published before the index loaded before it.
    @inline(__always) public static func read() { swiftdm_fence_acquire() }
    /// Write barrier: stores before it are visible before stores after it.
    @inline(__always) public static func write() { swiftdm_fence_release() }
}
