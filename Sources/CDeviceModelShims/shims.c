#define _GNU_SOURCE
#include "CDeviceModelShims.h"
#include <sys/ioctl.h>
#include <fcntl.h>

int swiftdm_ioctl_ptr(int fd, unsigned long request, void *arg) { return ioctl(fd, request, arg); }
int swiftdm_ioctl_int(int fd, unsigned long request, unsigned long arg) { return ioctl(fd, request, arg); }
int swiftdm_set_nonblocking(int fd, int on) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, flags);
}
int swiftdm_open(const char *path, int flags, unsigned int mode) { return open(path, flags, mode); }

#include <pthread.h>
#include <string.h>
void swiftdm_set_thread_name(const char *name) {
    char buf[16];
    strncpy(buf, name, 15);
    buf[15] = 0;
    pthread_setname_np(pthread_self(), buf);
}
