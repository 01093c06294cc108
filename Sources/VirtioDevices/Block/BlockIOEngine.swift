/// How a virtio-blk device runs its image I/O (QEMU's `aio=` spellings, and `inline`).
public enum BlockIOEngine: String, Sendable, Hashable, CaseIterable {
    /// io_uring, reaped on the queue's own I/O thread: no thread hop per request, one
    /// `io_uring_enter` per batch of requests.
    case ioUring = "io_uring"
    /// Blocking `preadv`/`pwritev` on the device's worker threads: works everywhere.
    case threads
    /// `preadv`/`pwritev` on the queue's own I/O thread, completing before the next request
    /// is taken. The default for an image in memory (tmpfs, ramfs, hugetlbfs), where no
    /// request waits on a device: those file systems refuse non-blocking attempts
    /// (`RWF_NOWAIT`), so io_uring hands every request to a kernel worker thread and back,
    /// which costs more than the copy itself. On a disk it would stall the queue on every
    /// request; choose it there only knowingly.
    case inline
}
