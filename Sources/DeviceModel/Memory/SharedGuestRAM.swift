import CDeviceModelShims
#if canImport(Glibc)
import Glibc
#endif

/// Guest RAM in one memfd, with a shared host view of every region.
///
/// Being a file, the RAM can be mapped a second time: a simulated Xen maps it frame by frame to
/// give its device model a foreign view of guest frames (as privcmd does on Xen), and a
/// vhost-user frontend could pass the fd to a backend. ``memory`` is the machine's view; a KVM
/// VM takes its regions as memory slots.
public final class SharedGuestRAM: @unchecked Sendable {
    // SAFETY (@unchecked): all stored properties are immutable after init; the bytes are
    // guest memory, shared by protocol.

    /// One piece of guest RAM: `[guestBase, guestBase + length)` at `fileOffset` in the memfd.
    public struct Region: Sendable {
        public let guestBase: UInt64
        public let length: UInt64
        public let fileOffset: UInt64
    }

    public let fd: Int32
    public let regions: [Region]
    /// A `MAP_SHARED` view of every region.
    public let memory: MappedGuestMemory

    /// Creates zeroed RAM for `layout` (each base and length page-aligned, no overlaps).
    public init(layout: [(guestBase: UInt64, length: UInt64)]) throws(GuestMemoryError) {
        let pageMask = UInt64(PageMappedGuestMemory.pageSize - 1)
        var regions: [Region] = []
        var offset: UInt64 = 0
        for (base, length) in layout.sorted(by: { $0.guestBase < $1.guestBase }) {
            guard base & pageMask == 0, length & pageMask == 0, length > 0 else {
                throw .misaligned(gpa: base, size: PageMappedGuestMemory.pageSize)
            }
            regions.append(Region(guestBase: base, length: length, fileOffset: offset))
            offset += length
        }
        let fd = swiftdm_memfd("swiftdm-guest-ram")
        guard fd >= 0 else { throw .mappingFailed(gpa: 0, errno: errno) }
        guard ftruncate(fd, off_t(offset)) == 0 else {
            let e = errno
            close(fd)
            throw .mappingFailed(gpa: 0, errno: e)
        }
        var mapped: [GuestMemoryRegion] = []
        for r in regions {
            let p = mmap(nil, Int(r.length), PROT_READ | PROT_WRITE, MAP_SHARED, fd, off_t(r.fileOffset))
            guard let p, p != MAP_FAILED else {
                let e = errno
                for m in mapped { munmap(m.host, Int(m.length)) }
                close(fd)
                throw .mappingFailed(gpa: r.guestBase, errno: e)
            }
            mapped.append(GuestMemoryRegion(guestBase: r.guestBase, length: r.length, host: p))
        }
        let toUnmap = mapped.map { (UInt(bitPattern: $0.host), Int($0.length)) }
        self.memory = try MappedGuestMemory(regions: mapped) {
            for (address, length) in toUnmap { munmap(UnsafeMutableRawPointer(bitPattern: address), length) }
        }
        self.fd = fd
        self.regions = regions
    }

    deinit { close(fd) }

    /// Where guest-physical address `gpa` lives in the memfd, or `nil` when it is not RAM.
    public func fileOffset(ofGuestPhysical gpa: UInt64) -> UInt64? {
        for r in regions where gpa >= r.guestBase && gpa - r.guestBase < r.length {
            return r.fileOffset + (gpa - r.guestBase)
        }
        return nil
    }
}
