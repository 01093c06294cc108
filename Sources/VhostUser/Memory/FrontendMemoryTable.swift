import DeviceModel
#if canImport(Glibc)
import Glibc
#endif

/// The frontend's guest RAM as `SET_MEM_TABLE` described it, mapped into this process
/// from the passed descriptors: the backend's ``GuestMemory`` plus the translation of
/// frontend virtual addresses (which `SET_VRING_ADDR` uses) to guest-physical ones.
///
/// Immutable; a new table replaces the whole object. The mappings live as long as the
/// ``guestMemory`` object, which devices and queues keep alive while they use it.
public final class FrontendMemoryTable: Sendable {
    /// One validated region.
    public struct Region: Sendable, Hashable {
        public let guestAddress: UInt64
        public let size: UInt64
        public let userAddress: UInt64
    }

    public let regions: [Region]
    public let guestMemory: MappedGuestMemory

    /// Validates the table (non-empty regions, no wrap-around in guest, frontend or file
    /// space, no overlaps in guest or frontend space, each file long enough) and maps it.
    /// Takes the descriptors; they are closed once mapped (the mappings keep the memory).
    init(table: MemoryTablePayload, descriptors: [ReceivedDescriptor]) throws(VhostUserError) {
        guard descriptors.count == table.regions.count else {
            throw .unexpectedFileDescriptors(request: "SET_MEM_TABLE", received: descriptors.count, expected: table.regions.count)
        }
        for d in descriptors { try d.checkMemoryFile(for: "SET_MEM_TABLE") }
        let entries = table.regions
        for (i, r) in entries.enumerated() {
            guard r.size > 0 else { throw .emptyRegion(index: i) }
            for (space, start) in [("guest-physical", r.guestAddress), ("frontend", r.userAddress)]
            where start.addingReportingOverflow(r.size).overflow {
                throw .regionOverflow(index: i, space: space, start: start, size: r.size)
            }
            // File offsets are signed (off_t).
            let (fileEnd, fileOverflow) = r.mmapOffset.addingReportingOverflow(r.size)
            guard !fileOverflow, fileEnd <= UInt64(Int64.max) else {
                throw .regionOverflow(index: i, space: "file", start: r.mmapOffset, size: r.size)
            }
        }
        try Self.checkOverlaps(entries.map(\.guestAddress), entries.map(\.size), space: "guest-physical")
        try Self.checkOverlaps(entries.map(\.userAddress), entries.map(\.size), space: "frontend")

        var mapped: [(UnsafeMutableRawPointer, Int)] = []
        var guestRegions: [GuestMemoryRegion] = []
        let page = UInt64(sysconf(Int32(_SC_PAGESIZE)))
        for (i, r) in entries.enumerated() {
            let fd = descriptors[i].raw
            var st = stat()
            guard fstat(fd, &st) == 0 else {
                Self.unmap(mapped)
                throw .system(call: "fstat(memory region \(i))", errno: errno)
            }
            // Touching a shared mapping past the end of its file raises SIGBUS: refuse it now.
            if st.st_mode & S_IFMT == S_IFREG && UInt64(max(0, st.st_size)) < r.mmapOffset + r.size {
                Self.unmap(mapped)
                throw .regionBeyondFile(index: i, end: r.mmapOffset + r.size, fileSize: Int64(st.st_size))
            }
            let alignedOffset = r.mmapOffset & ~(page - 1)
            let delta = r.mmapOffset - alignedOffset
            let length = r.size + delta
            guard length <= UInt64(Int.max) else {
                Self.unmap(mapped)
                throw .regionOverflow(index: i, space: "host", start: r.mmapOffset, size: r.size)
            }
            let p = mmap(nil, Int(length), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, off_t(alignedOffset))
            guard let p, p != MAP_FAILED else {
                let e = errno
                Self.unmap(mapped)
                throw .mapFailed(index: i, length: length, errno: e)
            }
            mapped.append((p, Int(length)))
            guestRegions.append(GuestMemoryRegion(guestBase: r.guestAddress, length: r.size, host: p + Int(delta)))
        }
        let toRelease = mapped.map { (UInt(bitPattern: $0.0), $0.1) }
        do {
            guestMemory = try MappedGuestMemory(regions: guestRegions) {
                for (address, length) in toRelease { munmap(UnsafeMutableRawPointer(bitPattern: address), length) }
            }
        } catch {
            // Unreachable after the checks above, but never leak the mappings.
            Self.unmap(mapped)
            throw .regionsOverlap(space: "guest-physical", first: 0, second: 0)
        }
        regions = entries.map { Region(guestAddress: $0.guestAddress, size: $0.size, userAddress: $0.userAddress) }
    }

    /// The guest-physical address of frontend address `userAddress`, provided all of
    /// `[userAddress, userAddress + length)` lies in one region; `nil` otherwise.
    public func guestAddress(ofFrontendAddress userAddress: UInt64, length: Int) -> UInt64? {
        guard length >= 0 else { return nil }
        for r in regions where userAddress >= r.userAddress {
            let offset = userAddress - r.userAddress
            guard offset < r.size, UInt64(length) <= r.size - offset else { continue }
            return r.guestAddress + offset
        }
        return nil
    }

    private static func checkOverlaps(_ starts: [UInt64], _ sizes: [UInt64], space: String) throws(VhostUserError) {
        let order = starts.indices.sorted { starts[$0] < starts[$1] }
        for (a, b) in zip(order, order.dropFirst()) where starts[a] + sizes[a] > starts[b] {
            throw .regionsOverlap(space: space, first: min(a, b), second: max(a, b))
        }
    }

    private static func unmap(_ mapped: [(UnsafeMutableRawPointer, Int)]) {
        for (p, len) in mapped { munmap(p, len) }
    }
}
