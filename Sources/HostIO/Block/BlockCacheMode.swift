/// How a block image uses the host page cache (QEMU's `cache=` spellings).
public enum BlockCacheMode: String, Sendable, Hashable, CaseIterable {
    /// Buffered I/O through the host page cache (QEMU's default `cache=writeback`); the
    /// guest's flushes reach stable storage with `fdatasync`.
    case writeback
    /// `O_DIRECT`: bypasses the host page cache (QEMU's `cache=none`), so the guest's data
    /// is not cached twice. Falls back to buffered I/O where the file system cannot do it.
    case none
}
