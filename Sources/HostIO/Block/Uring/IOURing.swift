import CURing
import DeviceModel
#if canImport(Glibc)
import Glibc
#endif

/// One io_uring instance (`io_uring_setup(2)`) whose completions signal an eventfd, so an
/// event loop can reap them on its own thread: no thread waits in the kernel for them.
///
/// The ring is restricted before it is enabled (`IORING_REGISTER_RESTRICTIONS` on a ring set
/// up with `IORING_SETUP_R_DISABLED`): it runs only `READV`, `WRITEV`, `FSYNC` and
/// `FALLOCATE`, so a compromised process cannot use it to open files or sockets behind a
/// seccomp filter's back (the filter only has to allow `io_uring_enter`).
///
/// Not thread-safe: one thread (the queue's I/O thread) submits and reaps.
public final class IOURing: @unchecked Sendable {
    // SAFETY (@unchecked): the ring is used from one thread at a time (the owner's event
    // loop); the type is Sendable only so it can be created elsewhere and handed over.
    private let ring: UnsafeMutablePointer<io_uring>
    /// Signalled by the kernel for each completion (`io_uring_register_eventfd`).
    public let completions: EventNotifier
    /// Submission entries (a power of two).
    public let entries: Int

    /// Sets up a ring of `entries` submission entries (rounded up to a power of two by the
    /// kernel) with its completion eventfd. `io_uring_queue_init`, `io_uring_register_eventfd`,
    /// `io_uring_register_restrictions`, `io_uring_enable_rings`.
    public init(entries: Int) throws(BlockBackendError) {
        let ring = UnsafeMutablePointer<io_uring>.allocate(capacity: 1)
        ring.initialize(to: io_uring())
        let rc = io_uring_queue_init(UInt32(clamping: entries), ring, IORING_SETUP_R_DISABLED)
        guard rc == 0 else {
            ring.deallocate()
            throw .ioUringUnavailable(operation: "io_uring_setup", errno: -rc)
        }
        func fail(_ operation: String, _ e: Int32) -> BlockBackendError {
            io_uring_queue_exit(ring)
            ring.deallocate()
            return .ioUringUnavailable(operation: operation, errno: e)
        }
        let notifier: EventNotifier
        do { notifier = try EventNotifier() } catch { throw fail("eventfd", EINVAL) }
        var r = io_uring_register_eventfd(ring, notifier.fd)
        guard r == 0 else { throw fail("io_uring_register_eventfd", -r) }
        var restrictions = [IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC, IORING_OP_FALLOCATE].map { op in
            var x = io_uring_restriction()
            x.opcode = UInt16(IORING_RESTRICTION_SQE_OP)
            x.sqe_op = UInt8(op.rawValue)
            return x
        }
        r = swiftdm_uring_register_restrictions(ring, &restrictions, UInt32(restrictions.count))
        guard r == 0 else { throw fail("io_uring_register_restrictions", -r) }
        r = swiftdm_uring_enable_rings(ring)
        guard r == 0 else { throw fail("io_uring_enable_rings", -r) }
        self.ring = ring
        self.completions = notifier
        self.entries = Int(ring.pointee.sq.ring_entries)
    }

    deinit {
        io_uring_queue_exit(ring)
        ring.deallocate()
    }

    /// A free submission entry, or `nil` when all are taken until the next ``submit()``.
    func nextEntry() -> UnsafeMutablePointer<io_uring_sqe>? { swiftdm_uring_get_sqe(ring) }

    /// Hands the prepared entries to the kernel (`io_uring_submit`); the count submitted or
    /// -errno. EINTR is retried: nothing was consumed.
    func submit() -> Int32 {
        var rc: Int32
        repeat { rc = io_uring_submit(ring) } while rc == -EINTR
        return rc
    }

    /// True when prepared entries are still waiting for the kernel to take them (a submit
    /// was refused for lack of resources or stopped early): submit again later.
    var hasUnsubmittedEntries: Bool { swiftdm_uring_sq_ready(ring) > 0 }

    /// Takes every completion ready now, oldest first: `body(tag, result)`, where `result`
    /// is the operation's return value or -errno.
    func forEachCompletion(_ body: (UInt64, Int32) -> Void) {
        var tag: UInt64 = 0
        var result: Int32 = 0
        while swiftdm_uring_take_cqe(ring, &tag, &result) != 0 { body(tag, result) }
    }

    /// Blocks until a completion is ready (used only when no event loop reaps any more).
    func waitForCompletion() -> Int32 { swiftdm_uring_wait(ring) }
}
