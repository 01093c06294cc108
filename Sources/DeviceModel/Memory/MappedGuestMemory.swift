#if canImport(Glibc)
import Glibc
#endif

/// One contiguous piece of guest RAM and the host memory that backs it.
public struct GuestMemoryRegion: @unchecked Sendable {
    public let guestBase: UInt64
    public let length: UInt64
    // SAFETY: points at `length` bytes that stay mapped as long as the owning
    // `MappedGuestMemory` lives; accessed only through its checked methods.
    public let host: UnsafeMutableRawPointer

    public init(guestBase: UInt64, length: UInt64, host: UnsafeMutableRawPointer) {
        self.guestBase = guestBase
        self.length = length
        self.host = host
    }

    public var range: AddressRange? { AddressRange(base: guestBase, length: length) }
}

/// Guest RAM mapped into this process as a fixed set of regions (KVM memory slots,
/// vhost-user `SET_MEM_TABLE` regions, the test harness).
///
/// The region table is immutable; a backend whose layout changes builds a new instance.
public final class MappedGuestMemory: GuestMemory, @unchecked Sendable {
    // SAFETY (@unchecked): `regions` is immutable after init; the bytes behind it are
    // guest-shared memory whose concurrent access is the guest/device protocol's business.
    public let regions: [GuestMemoryRegion]
    private let release: (@Sendable () -> Void)?

    /// Wraps existing mappings. `release` runs on deinit (e.g. to munmap them).
    /// Fails if regions overlap or overflow.
    public init(regions: [GuestMemoryRegion], release: (@Sendable () -> Void)? = nil) throws(GuestMemoryError) {
        let sorted = regions.sorted { $0.guestBase < $1.guestBase }
        var previous: AddressRange?
        for r in sorted {
            guard let range = r.range else { throw .overflow(gpa: r.guestBase, length: Int(clamping: r.length)) }
            if let p = previous, p.overlaps(range) { throw .outOfRange(gpa: r.guestBase, length: Int(clamping: r.length)) }
            previous = range
        }
        self.regions = sorted
        self.release = release
    }

    /// Allocates anonymous, zeroed RAM for each `(guestBase, length)` with `mmap`.
    public static func anonymous(_ layout: [(guestBase: UInt64, length: UInt64)]) throws -> MappedGuestMemory {
        var regions: [GuestMemoryRegion] = []
        for (base, length) in layout {
            let p = mmap(nil, Int(length), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
            guard let p, p != MAP_FAILED else {
                for r in regions { munmap(r.host, Int(r.length)) }
                throw GuestMemoryError.mappingFailed(gpa: base, errno: errno)
            }
            regions.append(GuestMemoryRegion(guestBase: base, length: length, host: p))
        }
        let toUnmap = regions.map { (UInt(bitPattern: $0.host), Int($0.length)) }
        return try MappedGuestMemory(regions: regions) {
            for (addr, len) in toUnmap { munmap(UnsafeMutableRawPointer(bitPattern: addr), len) }
        }
    }

    deinit { release?() }

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

    public func withContiguousBytes<R>(
        at gpa: UInt64, length: Int, _ body: (UnsafeMutableRawBufferPointer) -> R
    ) throws(GuestMemoryError) -> R {
        guard length >= 0, gpa.addingReportingOverflow(UInt64(length)).overflow == false else {
            throw .overflow(gpa: gpa, length: length)
        }
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

    public func withSlices<R>(
        at gpa: UInt64, length: Int, _ body: ([UnsafeMutableRawBufferPointer]) -> R
    ) throws(GuestMemoryError) -> R {
        guard length >= 0, gpa.addingReportingOverflow(UInt64(length)).overflow == false else {
            throw .overflow(gpa: gpa, length: length)
        }
        if length == 0 { return body([]) }
        guard var i = regionIndex(containing: gpa) else { throw .outOfRange(gpa: gpa, length: length) }
        var slices: [UnsafeMutableRawBufferPointer] = []
        var cursor = gpa
        var remaining = UInt64(length)
        while remaining > 0 {
            guard i < regions.count, regions[i].guestBase == cursor || (cursor > regions[i].guestBase && cursor - regions[i].guestBase < regions[i].length) else {
                throw .outOfRange(gpa: gpa, length: length)
            }
            let r = regions[i]
            let offset = cursor - r.guestBase
            let n = min(remaining, r.length - offset)
            slices.append(UnsafeMutableRawBufferPointer(start: r.host + Int(offset), count: Int(n)))
            cursor += n
            remaining -= n
            i += 1
        }
        return body(slices)
    }
}
