import CDeviceModelShims
#if canImport(Glibc)
import Glibc
#endif

/// One contiguous piece of guest RAM and the host memory that backs it.
public struct GuestMemoryRegion: @unchecked Sendable {
    /// Guest-physical address of the first byte.
    public let guestBase: UInt64
    /// Length in bytes.
    public let length: UInt64
    // SAFETY: points at `length` bytes that stay mapped as long as the owning
    // `MappedGuestMemory` lives; accessed only through its checked methods.
    /// The host mapping of the first byte.
    public let host: UnsafeMutableRawPointer

    /// Describes `length` bytes of guest RAM at `guestBase`, mapped at `host`.
    public init(guestBase: UInt64, length: UInt64, host: UnsafeMutableRawPointer) {
        self.guestBase = guestBase
        self.length = length
        self.host = host
    }

    /// The guest-physical range, or `nil` when empty or running past 2^64.
    public var range: AddressRange? { AddressRange(base: guestBase, length: length) }
}

/// Guest RAM mapped into this process as a fixed set of regions (KVM memory slots,
/// vhost-user `SET_MEM_TABLE` regions, the test harness).
///
/// The region table is immutable; a backend whose layout changes builds a new instance.
public final class MappedGuestMemory: GuestMemory, @unchecked Sendable {
    // SAFETY (@unchecked): `regions` is immutable after init; the bytes behind it are
    // guest-shared memory whose concurrent access is the guest/device protocol's business.
    /// The regions, sorted by guest address and disjoint.
    public let regions: [GuestMemoryRegion]
    private let release: (@Sendable () -> Void)?
    /// The regions' slots in the SIGBUS guard (`guest_memory_guard.c`); -1 where none was free.
    private let guardSlots: [Int32]

    /// Wraps existing mappings. `release` runs on deinit (e.g. to munmap them).
    /// Fails if a region is empty, overflows 2^64, or overlaps another.
    public init(regions: [GuestMemoryRegion], release: (@Sendable () -> Void)? = nil) throws(GuestMemoryError) {
        let sorted = regions.sorted { $0.guestBase < $1.guestBase }
        try Self.checkLayout(sorted.map { ($0.guestBase, $0.length) })
        self.regions = sorted
        self.release = release
        // A peer that owns the file behind a shared mapping can shrink it; the guard turns
        // the resulting SIGBUS into a zero page and ``isPoisoned``.
        self.guardSlots = sorted.map { swiftdm_guard_register($0.host, Int($0.length)) }
    }

    /// True once an access to this memory faulted because the file behind it shrank (its
    /// owner truncated it): the faulting pages now read as zeros, and the device using this
    /// memory must stop (NEEDS_RESET) or its peer be disconnected.
    public var isPoisoned: Bool { guardSlots.contains { swiftdm_guard_poisoned($0) != 0 } }

    /// Every region is mapped for the object's lifetime.
    public var isMappedUpFront: Bool { true }

    /// Allocates anonymous, zeroed RAM for each `(guestBase, length)` with `mmap`, placed so that
    /// host and guest addresses agree modulo 2 MiB and, with `hugePages`, advised for
    /// transparent huge pages: a hypervisor then maps the guest with 2 MiB pages where the host
    /// has them (fewer nested page faults and TLB misses; a nested guest boots markedly
    /// faster). Each 2 MiB region the guest touches is then resident in full, which a small
    /// guest may not want.
    public static func anonymous(_ layout: [(guestBase: UInt64, length: UInt64)], hugePages: Bool = true) throws -> MappedGuestMemory {
        // Refuse a bad layout before mapping anything, so a failed init leaks no mapping.
        try checkLayout(layout.sorted { $0.guestBase < $1.guestBase }.map { ($0.guestBase, $0.length) })
        var regions: [GuestMemoryRegion] = []
        for (base, length) in layout {
            guard length <= UInt64(Int.max) - hugePageSize else {
                for r in regions { munmap(r.host, Int(r.length)) }
                throw GuestMemoryError.overflow(gpa: base, length: Int.max)
            }
            guard let p = mapAligned(length: Int(length), congruentTo: base) else {
                let error = errno
                for r in regions { munmap(r.host, Int(r.length)) }
                throw GuestMemoryError.mappingFailed(gpa: base, errno: error)
            }
            // Advisory: without THP the mapping simply keeps 4 KiB pages.
            if hugePages { _ = madvise(p, Int(length), MADV_HUGEPAGE) }
            regions.append(GuestMemoryRegion(guestBase: base, length: length, host: p))
        }
        let toUnmap = regions.map { (UInt(bitPattern: $0.host), Int($0.length)) }
        return try MappedGuestMemory(regions: regions) {
            for (addr, len) in toUnmap { munmap(UnsafeMutableRawPointer(bitPattern: addr), len) }
        }
    }

    static let hugePageSize: UInt64 = 2 << 20

    /// An anonymous mapping of `length` bytes whose address is congruent to `guestBase` modulo
    /// 2 MiB: maps 2 MiB more than needed and returns the unused head and tail.
    private static func mapAligned(length: Int, congruentTo guestBase: UInt64) -> UnsafeMutableRawPointer? {
        let slack = Int(hugePageSize)
        let raw = mmap(nil, length + slack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let raw, raw != MAP_FAILED else { return nil }
        let address = UInt(bitPattern: raw)
        let mask = UInt(slack - 1)
        let head = (UInt(truncatingIfNeeded: guestBase) &- address) & mask
        if head > 0 { munmap(raw, Int(head)) }
        let tail = slack - Int(head)
        if tail > 0 { munmap(raw + Int(head) + length, tail) }
        return raw + Int(head)
    }

    /// Checks `(guestBase, length)` pairs sorted by base: non-empty, inside 2^64, disjoint.
    private static func checkLayout(_ sorted: [(UInt64, UInt64)]) throws(GuestMemoryError) {
        var previous: AddressRange?
        for (base, length) in sorted {
            guard length > 0 else { throw .outOfRange(gpa: base, length: 0) }
            guard let range = AddressRange(base: base, length: length) else {
                throw .overflow(gpa: base, length: Int(clamping: length))
            }
            if let p = previous, p.overlaps(range) { throw .outOfRange(gpa: base, length: Int(clamping: length)) }
            previous = range
        }
    }

    /// Rejects negative lengths and ranges that run past 2^64 (a range may end exactly there).
    private static func checkBounds(gpa: UInt64, length: Int) throws(GuestMemoryError) {
        guard length >= 0 else { throw .overflow(gpa: gpa, length: length) }
        guard length == 0 || !gpa.addingReportingOverflow(UInt64(length - 1)).overflow else {
            throw .overflow(gpa: gpa, length: length)
        }
    }

    deinit {
        // Unregister before unmapping, so the guard never replaces a page of a later mapping.
        for slot in guardSlots { swiftdm_guard_unregister(slot) }
        release?()
    }

    private func regionIndex(containing gpa: UInt64) -> Int? {
        var lo = 0
        var hi = regions.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if regions[mid].guestBase <= gpa { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0 else { return nil }
        let r = regions[lo - 1]
        return gpa - r.guestBase < r.length ? lo - 1 : nil
    }

    /// A zero-length range is always valid and yields an empty buffer.
    public func withContiguousBytes<R>(
        at gpa: UInt64, length: Int, _ body: (UnsafeMutableRawBufferPointer) -> R
    ) throws(GuestMemoryError) -> R {
        try Self.checkBounds(gpa: gpa, length: length)
        if length == 0 { return body(UnsafeMutableRawBufferPointer(start: nil, count: 0)) }
        guard let i = regionIndex(containing: gpa) else { throw .outOfRange(gpa: gpa, length: length) }
        let r = regions[i]
        let offset = gpa - r.guestBase
        guard UInt64(length) <= r.length - offset else {
            // Distinguish "RAM continues in the next region" from "runs into a hole".
            if (try? withSlices(at: gpa, length: length) { _ in () }) != nil {
                throw .notContiguous(gpa: gpa, length: length)
            }
            throw .outOfRange(gpa: gpa, length: length)
        }
        return body(UnsafeMutableRawBufferPointer(start: r.host + Int(offset), count: length))
    }

    /// A zero-length range is always valid and yields no slices.
    public func withSlices<R>(
        at gpa: UInt64, length: Int, _ body: ([UnsafeMutableRawBufferPointer]) -> R
    ) throws(GuestMemoryError) -> R {
        try Self.checkBounds(gpa: gpa, length: length)
        if length == 0 { return body([]) }
        guard var i = regionIndex(containing: gpa) else { throw .outOfRange(gpa: gpa, length: length) }
        var slices: [UnsafeMutableRawBufferPointer] = []
        var offset = gpa - regions[i].guestBase
        var remaining = UInt64(length)
        while true {
            let r = regions[i]
            let n = min(remaining, r.length - offset)
            slices.append(UnsafeMutableRawBufferPointer(start: r.host + Int(offset), count: Int(n)))
            remaining -= n
            if remaining == 0 { break }
            // The range runs past this region (which therefore ends below 2^64, as the range
            // does): RAM must continue in the next region without a hole.
            let end = r.guestBase &+ r.length
            guard i + 1 < regions.count, regions[i + 1].guestBase == end else {
                throw .outOfRange(gpa: gpa, length: length)
            }
            i += 1
            offset = 0
        }
        return body(slices)
    }
}
