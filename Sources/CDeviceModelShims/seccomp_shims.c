// Installing a seccomp filter: prctl(PR_SET_NO_NEW_PRIVS) and seccomp(2), whose constants and
// struct sock_fprog Swift's Glibc module does not carry.
#define _GNU_SOURCE
#include "CDeviceModelShims.h"
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int swiftdm_seccomp_install(const uint64_t *program, unsigned short count, int all_threads) {
    // SAFETY: `program` holds `count` 8-byte entries laid out as struct sock_filter
    // (u16 code, u8 jt, u8 jf, u32 k), which the kernel copies before returning.
    struct sock_fprog fprog = { .len = count, .filter = (struct sock_filter *)(uintptr_t)program };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -errno;
    unsigned int flags = all_threads ? SECCOMP_FILTER_FLAG_TSYNC : 0;
    long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fprog);
    // With TSYNC a positive result is the ID of a thread that could not be synchronised.
    if (r > 0) return -ESRCH;
    return r < 0 ? -errno : 0;
}
