import CDeviceModelShims
#if canImport(Glibc)
import Glibc
#endif

/// The "guest RAM" a frontend shares with its backend: one sealed memfd mapped into this
/// process. Guest-physical address 0 is the start of the file; the backend maps the same file
/// through `SET_MEM_TABLE`, so rings and data buffers written here are what it reads.
///
/// Every access is bounds-checked against the mapping by the callers that compute offsets
/// (``SplitRingDriver`` and ``BlockRequestSlots`` lay out their areas at set-up and check
/// them against ``size`` there), so the hot loop does plain loads and stores.
public final class SharedGuestMemory {
    /// The memfd (owned; closed on deinit).
    public let fd: Int32
    /// Its size in bytes.
    public let size: Int
    /// Where it is mapped in this process (the `userAddress` of the memory table).
    public let base: UnsafeMutableRawPointer

    /// A zeroed memfd of `size` bytes (rounded up to 2 MiB, the huge-page size backends may
    /// align their mappings to), sealed against growing and shrinking so the backend can
    /// trust it. `memfd_create(2)`, `mmap(2)`.
    public init(size requested: Int) throws(StorageBenchError) {
        let align = 2 << 20
        guard requested > 0, requested <= 1 << 36 else { throw .badParameter("guest memory of \(requested) bytes") }
        let size = (requested + align - 1) / align * align
        let fd = swiftdm_memfd_sealed("swiftdm-bench-ram", Int64(size))
        guard fd >= 0 else { throw .system(call: "memfd_create(\(size) bytes)", errno: errno) }
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            let e = errno
            close(fd)
            throw .system(call: "mmap(memfd, \(size) bytes)", errno: e)
        }
        self.fd = fd
        self.size = size
        base = p
    }

    deinit {
        munmap(base, size)
        close(fd)
    }

    /// The frontend-virtual address of guest-physical `gpa` (what `SET_VRING_ADDR` carries).
    public func userAddress(_ gpa: Int) -> UInt64 { UInt64(UInt(bitPattern: base)) + UInt64(gpa) }
}
