#define _GNU_SOURCE
#include "CDeviceModelShims.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/stat.h>
#include <sys/vfs.h>

ssize_t swiftdm_getrandom(void *buf, size_t len, unsigned int flags) { return getrandom(buf, len, flags); }
int swiftdm_fallocate(int fd, int mode, int64_t offset, int64_t len) { return fallocate(fd, mode, offset, len); }
int swiftdm_o_direct(void) { return O_DIRECT; }
int64_t swiftdm_fstatfs_type(int fd) {
    struct statfs fs;
    return fstatfs(fd, &fs) == 0 ? (int64_t)fs.f_type : -errno;
}

int swiftdm_dio_alignment(int fd, uint32_t *memory, uint32_t *offset) {
    struct statx stx;
    if (syscall(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) != 0) return -errno;
    if (!(stx.stx_mask & STATX_DIOALIGN) || stx.stx_dio_offset_align == 0) return -EOPNOTSUPP;
    *memory = stx.stx_dio_mem_align;
    *offset = stx.stx_dio_offset_align;
    return 0;
}

int swiftdm_memfd(const char *name) { return memfd_create(name, MFD_CLOEXEC); }

int swiftdm_memfd_sealed(const char *name, int64_t size) {
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return -errno;
    if (ftruncate(fd, size) < 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}
