import Synchronization

/// Guest RAM reached through a ``GuestFrameMapper``, with a cache of mappings.
///
/// Guest-physical space is cut into buckets of ``bucketFrames`` frames (1 MiB by default,
/// like QEMU's Xen map cache). The first access to a bucket maps all its frames with one
/// mapper call; later accesses reuse the mapping. Frames the mapper could not map fail
/// only the accesses that touch them, with ``GuestMemoryError/mappingFailed(gpa:errno:)``;
/// the next access that needs such a frame maps its bucket again (as QEMU's map cache
/// remaps an entry whose pages are not all valid), since a frame missing now — not yet
/// populated, ballooned out — may be there later and the hypervisor says nothing when RAM
/// is added.
///
/// Mappings in use by a running closure stay valid even if the cache drops them
/// meanwhile (``invalidate()``, eviction, a remap): each bucket is unmapped only when its
/// last user returns. So an invalidation never pulls memory from under an access in flight
/// on another thread (a block request's DMA); it only keeps later accesses off the old
/// mappings, which go as soon as their borrowers are done.
///
/// With an `accessObserver`, every access reports the frames it was given, after its
/// closure returned (a backend's dirty log). A ``GuestMemory/withContiguousBytes(at:length:_:)`` range that crosses
/// a bucket boundary gets a one-off mapping of exactly its frames.
public final class PageMappedGuestMemory: GuestMemory {
    /// The page size of guest frames (x86 and Xen: 4 KiB).
    public static let pageSize = 4096
    static let pageShift: UInt64 = 12

    /// Counters for tests and diagnostics.
    public struct Statistics: Sendable, Equatable {
        public var hits: UInt64 = 0
        public var misses: UInt64 = 0
        public var evictions: UInt64 = 0
        public var invalidations: UInt64 = 0
        /// Mappings made for a single contiguous access across buckets.
        public var oneOffMappings: UInt64 = 0
        /// Buckets mapped again because an access needed a frame that had failed to map.
        public var remaps: UInt64 = 0
    }

    public let mapper: any GuestFrameMapper
    /// Frames per cached mapping.
    public let bucketFrames: Int
    /// Most buckets kept mapped; the least recently used one is dropped beyond that.
    public let maxBuckets: Int
    /// Told `(firstFrame, count)` of every access once its closure returned.
    private let accessObserver: (@Sendable (UInt64, Int) -> Void)?

    private struct Cache {
        var buckets: [UInt64: Bucket] = [:]
        var clock: UInt64 = 0
        // Bumped by `invalidate()`: a mapping started before it must not enter the cache.
        var generation: UInt64 = 0
        var statistics = Statistics()
    }

    private let cache = Mutex(Cache())

    /// One cached mapping. Unmapped when the last reference (cache or in-flight access) goes.
    private final class Bucket: @unchecked Sendable {
        // SAFETY (@unchecked): `mapping` is immutable; `lastUse` is only read and written
        // with `cache` locked.
        let mapping: GuestFrameMapping
        let mapper: any GuestFrameMapper
        var lastUse: UInt64 = 0

        init(mapping: GuestFrameMapping, mapper: any GuestFrameMapper) {
            self.mapping = mapping
            self.mapper = mapper
        }

        deinit { mapper.unmap(mapping) }
    }

    /// - Parameters:
    ///   - bucketFrames: frames per cached mapping (at least 1).
    ///   - maxBuckets: most mappings kept at once (at least 1).
    ///   - accessObserver: called with `(firstFrame, count)` after every access, on the
    ///     accessing thread, once its closure returned. The closures get writable bytes, so
    ///     any access may have written: a dirty log built on this is a superset, never short.
    public init(mapper: any GuestFrameMapper, bucketFrames: Int = 256, maxBuckets: Int = 4096,
                accessObserver: (@Sendable (_ firstFrame: UInt64, _ count: Int) -> Void)? = nil) {
        self.mapper = mapper
        self.bucketFrames = max(1, bucketFrames)
        self.maxBuckets = max(1, maxBuckets)
        self.accessObserver = accessObserver
    }

    /// Drops every cached mapping (Xen `IOREQ_TYPE_INVALIDATE`: the guest's memory map
    /// changed). Accesses running now finish on the mappings they hold.
    public func invalidate() {
        let dropped: [UInt64: Bucket] = cache.withLock { c in
            let old = c.buckets
            c.buckets = [:]
            c.generation &+= 1
            c.statistics.invalidations += 1
            return old
        }
        // Unmap outside the lock (bucket deinit calls the mapper).
        withExtendedLifetime(dropped) {}
    }

    /// Cache counters so far.
    public var statistics: Statistics { cache.withLock { $0.statistics } }

    /// Number of buckets currently mapped by the cache.
    public var cachedBucketCount: Int { cache.withLock { $0.buckets.count } }

    // MARK: GuestMemory

    public func withContiguousBytes<R>(
        at gpa: UInt64, length: Int, _ body: (UnsafeMutableRawBufferPointer) -> R
    ) throws(GuestMemoryError) -> R {
        try Self.checkRange(gpa, length)
        if length == 0 { return body(UnsafeMutableRawBufferPointer(start: nil, count: 0)) }
        let bucketBytes = UInt64(bucketFrames) << Self.pageShift
        let last = gpa + UInt64(length - 1)
        if gpa / bucketBytes == last / bucketBytes {
            let (bucket, host) = try mapped(gpa, length)
            let result = withExtendedLifetime(bucket) {
                body(UnsafeMutableRawBufferPointer(start: host, count: length))
            }
            observe(gpa, length)
            return result
        }
        // Crosses buckets: map exactly the frames needed, once.
        let firstFrame = gpa >> Self.pageShift
        let frameCount = Int((last >> Self.pageShift) - firstFrame + 1)
        let mapping = try mapper.map(firstFrame: firstFrame, count: frameCount)
        defer { mapper.unmap(mapping) }
        cache.withLock { $0.statistics.oneOffMappings += 1 }
        let host = try Self.hostAddress(in: mapping, gpa: gpa, length: length)
        let result = body(UnsafeMutableRawBufferPointer(start: host, count: length))
        observe(gpa, length)
        return result
    }

    public func withSlices<R>(
        at gpa: UInt64, length: Int, _ body: ([UnsafeMutableRawBufferPointer]) -> R
    ) throws(GuestMemoryError) -> R {
        try Self.checkRange(gpa, length)
        if length == 0 { return body([]) }
        let bucketBytes = UInt64(bucketFrames) << Self.pageShift
        var slices: [UnsafeMutableRawBufferPointer] = []
        var held: [Bucket] = []
        var cursor = gpa
        var remaining = UInt64(length)
        while remaining > 0 {
            let n = min(remaining, bucketBytes - cursor % bucketBytes)
            let (bucket, host) = try mapped(cursor, Int(n))
            slices.append(UnsafeMutableRawBufferPointer(start: host, count: Int(n)))
            held.append(bucket)
            cursor &+= n
            remaining -= n
        }
        let result = withExtendedLifetime(held) { body(slices) }
        observe(gpa, length)
        return result
    }

    // MARK: Internals

    private static func checkRange(_ gpa: UInt64, _ length: Int) throws(GuestMemoryError) {
        guard length >= 0 else { throw .overflow(gpa: gpa, length: length) }
        if length > 0, gpa.addingReportingOverflow(UInt64(length - 1)).overflow {
            throw .overflow(gpa: gpa, length: length)
        }
    }

    /// The host address of `[gpa, gpa + length)` inside `mapping`, after checking every
    /// page it touches was mapped.
    private static func hostAddress(
        in mapping: GuestFrameMapping, gpa: UInt64, length: Int
    ) throws(GuestMemoryError) -> UnsafeMutableRawPointer {
        let start = mapping.firstFrame << pageShift
        let offset = gpa - start
        let firstPage = Int(offset >> pageShift)
        let lastPage = Int((offset + UInt64(length - 1)) >> pageShift)
        guard lastPage < mapping.frameCount else { throw .outOfRange(gpa: gpa, length: length) }
        for page in firstPage...lastPage where mapping.pageErrors[page] != 0 {
            throw .mappingFailed(gpa: start + (UInt64(page) << pageShift), errno: mapping.pageErrors[page])
        }
        return mapping.host + Int(offset)
    }

    /// Reports the frames of `[gpa, gpa + length)` (length > 0, no overflow) to the observer.
    private func observe(_ gpa: UInt64, _ length: Int) {
        guard let accessObserver else { return }
        let first = gpa >> Self.pageShift
        let last = (gpa + UInt64(length - 1)) >> Self.pageShift
        accessObserver(first, Int(last - first + 1))
    }

    /// The bucket holding `[gpa, gpa + length)` (inside one bucket) and the range's host
    /// address. When a page of the range had failed to map, the bucket is mapped once more
    /// first (the frame may have been populated since); the new mapping replaces the
    /// cached one unless an invalidation came in between.
    private func mapped(_ gpa: UInt64, _ length: Int) throws(GuestMemoryError) -> (Bucket, UnsafeMutableRawPointer) {
        let bucket = try self.bucket(containing: gpa)
        do {
            return (bucket, try Self.hostAddress(in: bucket.mapping, gpa: gpa, length: length))
        } catch .mappingFailed {
            let fresh = try remap(bucket)
            return (fresh, try Self.hostAddress(in: fresh.mapping, gpa: gpa, length: length))
        }
    }

    /// Maps `stale`'s frames again and puts the result in the cache in its place (if it is
    /// still there); `stale` is unmapped when its last user is done.
    private func remap(_ stale: Bucket) throws(GuestMemoryError) -> Bucket {
        let index = stale.mapping.firstFrame / UInt64(bucketFrames)
        let mapping = try mapper.map(firstFrame: stale.mapping.firstFrame, count: stale.mapping.frameCount)
        let fresh = Bucket(mapping: mapping, mapper: mapper)
        let replaced: Bucket? = cache.withLock { c in
            c.statistics.remaps += 1
            guard c.buckets[index] === stale else { return nil }
            c.clock &+= 1
            fresh.lastUse = c.clock
            c.buckets[index] = fresh
            return stale
        }
        withExtendedLifetime(replaced) {}
        return fresh
    }

    private func bucket(containing gpa: UInt64) throws(GuestMemoryError) -> Bucket {
        let index = (gpa >> Self.pageShift) / UInt64(bucketFrames)
        enum Lookup { case hit(Bucket), miss(generation: UInt64) }
        let lookup: Lookup = cache.withLock { c in
            if let b = c.buckets[index] {
                c.clock &+= 1
                b.lastUse = c.clock
                c.statistics.hits += 1
                return .hit(b)
            }
            c.statistics.misses += 1
            return .miss(generation: c.generation)
        }
        let generation: UInt64
        switch lookup {
        case .hit(let b): return b
        case .miss(let g): generation = g
        }
        // Map outside the lock: other threads keep hitting the cache meanwhile.
        let mapping = try mapper.map(firstFrame: index * UInt64(bucketFrames), count: bucketFrames)
        let fresh = Bucket(mapping: mapping, mapper: mapper)
        let (result, evicted): (Bucket, Bucket?) = cache.withLock { c in
            c.clock &+= 1
            if let existing = c.buckets[index] {
                existing.lastUse = c.clock
                return (existing, nil)
            }
            fresh.lastUse = c.clock
            // Invalidated while we were mapping: use it for this access only.
            guard c.generation == generation else { return (fresh, nil) }
            var victim: Bucket?
            if c.buckets.count >= maxBuckets, let oldest = c.buckets.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                victim = c.buckets.removeValue(forKey: oldest.key)
                c.statistics.evictions += 1
            }
            c.buckets[index] = fresh
            return (fresh, victim)
        }
        withExtendedLifetime(evicted) {}
        return result
    }
}
