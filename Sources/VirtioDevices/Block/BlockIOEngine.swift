/// How a virtio-blk device runs its image I/O (QEMU's `aio=` spellings).
public enum BlockIOEngine: String, Sendable, Hashable, CaseIterable {
    /// io_uring, reaped on the queue's own I/O thread: no thread hop per request, one
    /// `io_uring_enter` per batch of requests.
    case ioUring = "io_uring"
    /// Blocking `preadv`/`pwritev` on the device's worker threads: works everywhere.
    case threads
}
