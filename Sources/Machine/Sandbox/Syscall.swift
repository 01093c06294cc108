/// Linux system calls by their x86-64 numbers (`asm/unistd_64.h`): the vocabulary of
/// ``SyscallFilter``. Only the calls an allow-list or its tests name are listed.
public enum Syscall: UInt32, Sendable, CaseIterable {
    case read = 0, write = 1, close = 3, fstat = 5, poll = 7, lseek = 8
    case mmap = 9, mprotect = 10, munmap = 11, brk = 12
    case rtSigaction = 13, rtSigprocmask = 14, rtSigreturn = 15, ioctl = 16
    case pread64 = 17, pwrite64 = 18, readv = 19, writev = 20
    case schedYield = 24, mremap = 25, madvise = 28, dup = 32, nanosleep = 35, getpid = 39
    case socket = 41, connect = 42, sendto = 44, recvfrom = 45, sendmsg = 46, recvmsg = 47, shutdown = 48
    case setsockopt = 54, getsockopt = 55, clone = 56, execve = 59, exit = 60, kill = 62
    case fcntl = 72, fsync = 74, fdatasync = 75, gettimeofday = 96, getuid = 102
    case rtSigtimedwait = 128, sigaltstack = 131, gettid = 186, tkill = 200, futex = 202, schedGetaffinity = 204
    case restartSyscall = 219, clockGettime = 228, clockGetres = 229, clockNanosleep = 230
    case exitGroup = 231, epollWait = 232, epollCtl = 233, tgkill = 234
    case openat = 257, newfstatat = 262, ppoll = 271, setRobustList = 273, epollPwait = 281
    case fallocate = 285, accept4 = 288, eventfd2 = 290, preadv = 295, pwritev = 296
    case prlimit64 = 302, getrandom = 318, memfdCreate = 319, membarrier = 324
    case preadv2 = 327, pwritev2 = 328, statx = 332, rseq = 334, ioUringSetup = 425, ioUringEnter = 426, clone3 = 435
}
