/// Host view of consecutive guest page frames made by a ``GuestFrameMapper``.
///
/// Frame `firstFrame + i` is at `host + i * PageMappedGuestMemory.pageSize` when
/// `pageErrors[i] == 0`; any other value is the errno for that page, and its bytes
/// must not be touched (the kernel leaves nothing mapped there).
public struct GuestFrameMapping: @unchecked Sendable {
    // SAFETY (@unchecked): `host` is an address range owned by the mapper until
    // `unmap(_:)`; `PageMappedGuestMemory` keeps the mapping alive while closures use it.
    public let firstFrame: UInt64
    public let host: UnsafeMutableRawPointer
    /// Per-page result: 0 for a mapped page, else the (positive) errno.
    public let pageErrors: [Int32]

    public init(firstFrame: UInt64, host: UnsafeMutableRawPointer, pageErrors: [Int32]) {
        self.firstFrame = firstFrame
        self.host = host
        self.pageErrors = pageErrors
    }

    /// Number of frames covered (mapped or not).
    public var frameCount: Int { pageErrors.count }
}

/// Maps guest-physical page frames into this process on demand.
///
/// Backends whose guest RAM is not mapped up front implement this (Xen foreign memory,
/// privcmd `IOCTL_PRIVCMD_MMAP_BATCH_V2`); ``PageMappedGuestMemory`` turns it into a
/// ``GuestMemory`` with a mapping cache.
public protocol GuestFrameMapper: AnyObject, Sendable {
    /// Maps frames `firstFrame ..< firstFrame + count` read/write into one contiguous host
    /// range. Pages that cannot be mapped are reported in ``GuestFrameMapping/pageErrors``
    /// — one bad frame fails only the accesses that touch it. Throws when the call as a
    /// whole fails (no address range could be set up).
    func map(firstFrame: UInt64, count: Int) throws(GuestMemoryError) -> GuestFrameMapping

    /// Releases a mapping returned by ``map(firstFrame:count:)``. Called exactly once.
    func unmap(_ mapping: GuestFrameMapping)
}
