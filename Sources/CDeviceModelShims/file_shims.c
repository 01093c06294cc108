#define _GNU_SOURCE
#include "CDeviceModelShims.h"
#include <fcntl.h>
#include <sys/random.h>

ssize_t swiftdm_getrandom(void *buf, size_t len, unsigned int flags) { return getrandom(buf, len, flags); }
int swiftdm_fallocate(int fd, int mode, int64_t offset, int64_t len) { return fallocate(fd, mode, offset, len); }
