// liburing through Swift: liburing's submission and completion helpers are `static inline`
// and touch the rings with C11 atomics, so each one Swift needs is wrapped here, one line
// each. Everything else (which operation, retries, accounting) is Swift's business.
//
// <features.h> comes first: liburing.h defines _XOPEN_SOURCE and _GNU_SOURCE before its own
// includes, and if it were the first to pull in glibc, this module's copies of the system
// types would differ from every other module's (fd_set's member is `fds_bits` under
// _XOPEN_SOURCE, `__fds_bits` otherwise) and a Swift file importing both fails to compile,
// depending on which module the build happened to compile first.
#include <features.h>
#include <liburing.h>
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

/// `io_uring_register_restrictions` and `io_uring_enable_rings` as raw io_uring_register(2)
/// calls: Debian's liburing 2.3 declares them but its shared library does not export them.
/// 0 or -errno.
static inline int swiftdm_uring_register_restrictions(struct io_uring *ring, struct io_uring_restriction *res,
                                                      unsigned count) {
    long rc = syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_RESTRICTIONS, res, count);
    return rc < 0 ? -errno : 0;
}
static inline int swiftdm_uring_enable_rings(struct io_uring *ring) {
    long rc = syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
    return rc < 0 ? -errno : 0;
}

/// The next free submission entry, or NULL when the submission ring is full.
static inline struct io_uring_sqe *swiftdm_uring_get_sqe(struct io_uring *ring) {
    return io_uring_get_sqe(ring);
}

/// `preadv`/`pwritev` as ring operations (IORING_OP_READV / IORING_OP_WRITEV).
static inline void swiftdm_uring_prep_readv(struct io_uring_sqe *sqe, int fd, const struct iovec *iov,
                                            unsigned count, unsigned long long offset, unsigned long long tag) {
    io_uring_prep_readv(sqe, fd, iov, count, offset);
    io_uring_sqe_set_data64(sqe, tag);
}
static inline void swiftdm_uring_prep_writev(struct io_uring_sqe *sqe, int fd, const struct iovec *iov,
                                             unsigned count, unsigned long long offset, unsigned long long tag) {
    io_uring_prep_writev(sqe, fd, iov, count, offset);
    io_uring_sqe_set_data64(sqe, tag);
}

/// `fsync`/`fdatasync` (IORING_OP_FSYNC; `flags` IORING_FSYNC_DATASYNC or 0).
static inline void swiftdm_uring_prep_fsync(struct io_uring_sqe *sqe, int fd, unsigned flags,
                                            unsigned long long tag) {
    io_uring_prep_fsync(sqe, fd, flags);
    io_uring_sqe_set_data64(sqe, tag);
}

/// `fallocate` (IORING_OP_FALLOCATE).
static inline void swiftdm_uring_prep_fallocate(struct io_uring_sqe *sqe, int fd, int mode,
                                                unsigned long long offset, unsigned long long length,
                                                unsigned long long tag) {
    io_uring_prep_fallocate(sqe, fd, mode, (__u64)offset, (__u64)length);
    io_uring_sqe_set_data64(sqe, tag);
}

/// Submission entries prepared but not yet taken by the kernel (after a submit that was
/// refused for lack of resources, or stopped early).
static inline unsigned swiftdm_uring_sq_ready(struct io_uring *ring) {
    return io_uring_sq_ready(ring);
}

/// Takes one completion if there is one: returns 1 and fills `tag`/`result` (the operation's
/// return value or -errno), marking the entry seen; 0 when the completion ring is empty.
static inline int swiftdm_uring_take_cqe(struct io_uring *ring, unsigned long long *tag, int *result) {
    struct io_uring_cqe *cqe = NULL;
    if (io_uring_peek_cqe(ring, &cqe) != 0 || cqe == NULL) return 0;
    *tag = io_uring_cqe_get_data64(cqe);
    *result = cqe->res;
    io_uring_cqe_seen(ring, cqe);
    return 1;
}

/// Blocks until a completion is ready (without taking it); 0 or -errno.
static inline int swiftdm_uring_wait(struct io_uring *ring) {
    struct io_uring_cqe *cqe = NULL;
    return io_uring_wait_cqe(ring, &cqe);
}
