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

/// ioctl(2) with a pointer argument (Swift cannot call the variadic prototype portably).
int swiftdm_ioctl_ptr(int fd, unsigned long request, void *arg);
/// ioctl(2) with an integer argument.
int swiftdm_ioctl_int(int fd, unsigned long request, unsigned long arg);
/// fcntl(2) F_GETFL/F_SETFL helpers.
int swiftdm_set_nonblocking(int fd, int on);
/// open(2) with flags and mode (non-variadic).
int swiftdm_open(const char *path, int flags, unsigned int mode);

/// Names the calling thread (pthread_setname_np; at most 15 characters are kept).
void swiftdm_set_thread_name(const char *name);

/// getrandom(2) (glibc's <sys/random.h> is not part of Swift's Glibc module).
ssize_t swiftdm_getrandom(void *buf, size_t len, unsigned int flags);
/// fallocate(2) (needs _GNU_SOURCE, which Swift's Glibc module does not define).
int swiftdm_fallocate(int fd, int mode, int64_t offset, int64_t len);

/// Opens /dev/net/tun and attaches to (or creates) tap interface `name` with `flags`
/// (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR ...). Writes the kernel's interface name (IFNAMSIZ
/// bytes) to `name_out`. Returns the fd, or -errno.
int swiftdm_tap_open(const char *name, int flags, char *name_out);
/// Returns the ifindex of `name`, or -errno (SIOCGIFINDEX on a throwaway socket).
int swiftdm_if_index(const char *name);
/// Sets IFF_UP on interface `name`. Returns 0 or -errno.
int swiftdm_if_set_up(const char *name);

#endif
