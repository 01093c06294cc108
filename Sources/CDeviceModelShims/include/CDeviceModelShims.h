// Small inline helpers Swift cannot express directly: memory fences and
// atomic accesses on raw guest memory (virtio ring indices), plus
// non-variadic wrappers for variadic libc calls.
#ifndef SWIFTDM_CDEVICEMODELSHIMS_H
#define SWIFTDM_CDEVICEMODELSHIMS_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/eventfd.h>

/// Full memory barrier (smp_mb): orders earlier loads/stores before later ones.
static inline void swiftdm_fence_seq_cst(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
/// Acquire barrier (smp_rmb): later loads are not reordered before earlier loads.
static inline void swiftdm_fence_acquire(void) { __atomic_thread_fence(__ATOMIC_ACQUIRE); }
/// Release barrier (smp_wmb): earlier stores are visible before later stores.
static inline void swiftdm_fence_release(void) { __atomic_thread_fence(__ATOMIC_RELEASE); }

static inline uint16_t swiftdm_load_acquire_u16(const void *p) { return __atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE); }
static inline void swiftdm_store_release_u16(void *p, uint16_t v) { __atomic_store_n((uint16_t *)p, v, __ATOMIC_RELEASE); }
static inline uint32_t swiftdm_load_acquire_u32(const void *p) { return __atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE); }
static inline void swiftdm_store_release_u32(void *p, uint32_t v) { __atomic_store_n((uint32_t *)p, v, __ATOMIC_RELEASE); }
static inline uint64_t swiftdm_load_acquire_u64(const void *p) { return __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE); }
static inline void swiftdm_store_release_u64(void *p, uint64_t v) { __atomic_store_n((uint64_t *)p, v, __ATOMIC_RELEASE); }

/// A spin-wait hint (x86 PAUSE): lets the sibling hyperthread run and saves power while a
/// thread polls a ring.
static inline void swiftdm_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/// ioctl(2) with a pointer argument (Swift cannot call the variadic prototype portably).
int swiftdm_ioctl_ptr(int fd, unsigned long request, void *arg);
/// ioctl(2) with an integer argument.
int swiftdm_ioctl_int(int fd, unsigned long request, unsigned long arg);
/// fcntl(2) F_GETFL/F_SETFL helpers.
int swiftdm_set_nonblocking(int fd, int on);
/// open(2) with flags and mode (non-variadic).
int swiftdm_open(const char *path, int flags, unsigned int mode);
/// accept4(2) (a GNU extension Swift's Glibc module does not export) without the peer
/// address, with `flags` (SOCK_CLOEXEC, SOCK_NONBLOCK) applied atomically.
int swiftdm_accept4(int fd, int flags);

/// Names the calling thread (pthread_setname_np; at most 15 characters are kept); 0 or an errno.
int swiftdm_set_thread_name(const char *name);

/// The process's argc and argv as the kernel passed them (captured by an ELF constructor),
/// for when /proc is not mounted and Swift's CommandLine.arguments comes back empty.
int swiftdm_process_argc(void);
char *const *swiftdm_process_argv(void);

/// getrandom(2) (glibc's <sys/random.h> is not part of Swift's Glibc module).
ssize_t swiftdm_getrandom(void *buf, size_t len, unsigned int flags);
/// fallocate(2) (needs _GNU_SOURCE, which Swift's Glibc module does not define).
int swiftdm_fallocate(int fd, int mode, int64_t offset, int64_t len);
/// O_DIRECT (a _GNU_SOURCE flag Swift's Glibc module does not define).
int swiftdm_o_direct(void);
/// The direct-I/O alignment of `fd` (statx STATX_DIOALIGN): buffer address and length
/// alignment in `memory`, file offset alignment in `offset`. 0, or -errno (-EOPNOTSUPP when
/// the file system does not do direct I/O on this file).
int swiftdm_dio_alignment(int fd, uint32_t *memory, uint32_t *offset);
/// The `f_type` of the file system holding `fd` (fstatfs(2); <sys/vfs.h> is not in Swift's
/// Glibc module), or -errno.
int64_t swiftdm_fstatfs_type(int fd);
/// memfd_create(name, MFD_CLOEXEC): anonymous memory that can be mapped more than once
/// (guest RAM shared with a simulated hypervisor or a vhost-user peer). Needs _GNU_SOURCE.
int swiftdm_memfd(const char *name);
/// A memfd of `size` zero bytes that can no longer grow or shrink (F_SEAL_GROW,
/// F_SEAL_SHRINK, F_SEAL_SEAL): a buffer handed to another process that must stay mappable
/// in full (the vhost-user inflight buffer). Returns the fd, or -errno.
int swiftdm_memfd_sealed(const char *name, int64_t size);

/// Opens /dev/net/tun and attaches to (or creates) tap interface `name` with `flags`
/// (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR ...). Writes the kernel's interface name (IFNAMSIZ
/// bytes) to `name_out`. Returns the fd, or -errno.
int swiftdm_tap_open(const char *name, int flags, char *name_out);
/// Returns the ifindex of `name`, or -errno (SIOCGIFINDEX on a throwaway socket).
int swiftdm_if_index(const char *name);
/// Sets IFF_UP on interface `name`. Returns 0 or -errno.
int swiftdm_if_set_up(const char *name);

/// Registers `[start, start + length)` as guest RAM with the SIGBUS guard (installed on
/// first use): a fault there maps a zero page over the faulting page and marks the slot
/// poisoned instead of killing the process. Returns the slot, or -1 when none is free.
int swiftdm_guard_register(void *start, size_t length);
/// Forgets a slot; call before unmapping the range.
void swiftdm_guard_unregister(int slot);
/// 1 once an access inside the slot's range faulted.
int swiftdm_guard_poisoned(int slot);

/// Installs a seccomp filter of `count` BPF instructions (each a struct sock_filter packed in
/// 8 bytes) on the calling thread, or with `all_threads` on every thread of the process
/// (SECCOMP_FILTER_FLAG_TSYNC); sets no_new_privs first. Returns 0 or -errno.
int swiftdm_seccomp_install(const uint64_t *program, unsigned short count, int all_threads);

#endif
