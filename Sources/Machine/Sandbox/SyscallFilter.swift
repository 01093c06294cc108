import CDeviceModelShims
#if canImport(Glibc)
import Glibc
#endif

/// A seccomp allow-list (`SECCOMP_MODE_FILTER`): the system calls a process may still make once
/// it is set up; any other fails with `EPERM` (so a missed call shows up as an error where it
/// is made, not as a killed VM), and a call from another architecture's syscall table kills
/// the process. `prctl` is allowed for `PR_SET_NAME` only: threads that start while the filter
/// goes in still name themselves.
///
/// ``runningMachine`` is what `swiftdm run --seccomp` installs after the machine is built and
/// its vCPUs started: the vCPU, device I/O and worker threads keep running guest I/O (KVM
/// ioctls, eventfd and socket traffic, image reads and writes, `getrandom`, memory for the
/// Swift runtime), but can no longer open files, create sockets or processes, or execute
/// anything — a compromised device model is left with the descriptors it already holds.
public struct SyscallFilter: Sendable {
    /// The calls allowed.
    public let allowed: Set<Syscall>

    public init(allowing allowed: Set<Syscall>) {
        self.allowed = allowed
    }

    /// A running machine's calls: I/O on descriptors it holds, KVM ioctls, polling, timers,
    /// threads synchronising and ending, signals, memory management, randomness.
    public static let runningMachine = SyscallFilter(allowing: [
        // Descriptors already open: images, eventfds, sockets, taps, consoles.
        .read, .write, .readv, .writev, .pread64, .pwrite64, .preadv, .pwritev, .preadv2, .pwritev2,
        .close, .fcntl, .fstat, .newfstatat, .statx, .lseek, .dup, .ioctl, .fsync, .fdatasync, .fallocate,
        .sendto, .recvfrom, .sendmsg, .recvmsg, .shutdown, .getsockopt, .setsockopt, .accept4,
        // virtio-blk's io_uring engine submits on rings set up before the filter, restricted
        // to READV, WRITEV, FSYNC and FALLOCATE (IORING_REGISTER_RESTRICTIONS), so they open
        // nothing; io_uring_setup stays forbidden.
        .ioUringEnter,
        // The event loops.
        .poll, .ppoll, .epollWait, .epollPwait, .epollCtl, .eventfd2,
        // Threads, time and signals.
        .futex, .schedYield, .nanosleep, .clockNanosleep, .clockGettime, .clockGetres, .gettimeofday,
        .rtSigaction, .rtSigprocmask, .rtSigreturn, .rtSigtimedwait, .sigaltstack, .restartSyscall,
        .tgkill, .tkill, .getpid, .gettid, .setRobustList, .rseq, .membarrier, .schedGetaffinity, .exit, .exitGroup,
        // Memory (the Swift runtime, guard pages, the SIGBUS guard's replacement pages) and entropy.
        .mmap, .munmap, .mprotect, .mremap, .madvise, .brk, .getrandom,
    ])

    // BPF (linux/filter.h, linux/seccomp.h, linux/audit.h).
    private static let loadWord: UInt16 = 0x20            // BPF_LD | BPF_W | BPF_ABS
    private static let jumpEqual: UInt16 = 0x15           // BPF_JMP | BPF_JEQ | BPF_K
    private static let jumpGreaterEqual: UInt16 = 0x35    // BPF_JMP | BPF_JGE | BPF_K
    private static let returnValue: UInt16 = 0x06         // BPF_RET | BPF_K
    private static let archX86_64: UInt32 = 0xC000_003E   // AUDIT_ARCH_X86_64
    private static let x32Bit: UInt32 = 0x4000_0000       // __X32_SYSCALL_BIT
    private static let allow: UInt32 = 0x7FFF_0000        // SECCOMP_RET_ALLOW
    private static let killProcess: UInt32 = 0x8000_0000  // SECCOMP_RET_KILL_PROCESS
    private static let errno: UInt32 = 0x0005_0000        // SECCOMP_RET_ERRNO
    /// `struct seccomp_data`: `nr` at 0, `arch` at 4, the low half of `args[0]` at 16.
    private static let numberOffset: UInt32 = 0, archOffset: UInt32 = 4, firstArgumentOffset: UInt32 = 16
    private static let prctl: UInt32 = 157, prSetName: UInt32 = 15

    private static func instruction(_ code: UInt16, _ jt: UInt8 = 0, _ jf: UInt8 = 0, k: UInt32) -> UInt64 {
        UInt64(code) | UInt64(jt) << 16 | UInt64(jf) << 24 | UInt64(k) << 32
    }

    /// The filter program: check the architecture, refuse x32 numbers, allow `prctl` for
    /// `PR_SET_NAME`, compare the number with each allowed one (in order, so the program is
    /// the same for the same list), allow on a match, otherwise fail with EPERM.
    var program: [UInt64] {
        let numbers = allowed.map(\.rawValue).sorted()
        let n = UInt8(numbers.count)
        // Jump offsets count from the next instruction: EPERM is at 8 + n, ALLOW at 9 + n.
        var p: [UInt64] = [
            Self.instruction(Self.loadWord, k: Self.archOffset),
            Self.instruction(Self.jumpEqual, 1, 0, k: Self.archX86_64),
            Self.instruction(Self.returnValue, k: Self.killProcess),
            Self.instruction(Self.loadWord, k: Self.numberOffset),
            Self.instruction(Self.jumpGreaterEqual, n + 3, 0, k: Self.x32Bit),
            Self.instruction(Self.jumpEqual, 0, 2, k: Self.prctl),
            Self.instruction(Self.loadWord, k: Self.firstArgumentOffset),
            Self.instruction(Self.jumpEqual, n + 1, n, k: Self.prSetName),
        ]
        for (i, n) in numbers.enumerated() {
            // On a match, jump over the remaining comparisons and the EPERM return.
            p.append(Self.instruction(Self.jumpEqual, UInt8(numbers.count - i), 0, k: n))
        }
        p.append(Self.instruction(Self.returnValue, k: Self.errno | UInt32(EPERM)))
        p.append(Self.instruction(Self.returnValue, k: Self.allow))
        return p
    }

    /// Installs the filter on the calling thread (and the threads it creates later), or on
    /// every thread of the process with `allThreads`. It cannot be removed again.
    /// `prctl(PR_SET_NO_NEW_PRIVS)`, `seccomp(SECCOMP_SET_MODE_FILTER)`.
    public func install(allThreads: Bool) throws(MachineError) {
        // Each comparison's jump must fit BPF's 8-bit offsets.
        guard allowed.count <= 250 else { throw .syscallFilter(reason: "\(allowed.count) calls do not fit one filter", errno: EINVAL) }
        let program = self.program
        let r = program.withUnsafeBufferPointer { swiftdm_seccomp_install($0.baseAddress, UInt16($0.count), allThreads ? 1 : 0) }
        guard r == 0 else { throw .syscallFilter(reason: "seccomp(SECCOMP_SET_MODE_FILTER) failed", errno: -r) }
    }
}
