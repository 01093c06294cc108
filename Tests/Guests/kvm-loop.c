// A minimal KVM loop in C, the baseline for swiftdm's exit-cost measurement.
//
// It runs a test-guest image (see firmware.inc) the way KVMGlue does — ROM ending at 4 GiB, copy
// below 1 MiB, reset vector, in-kernel irqchip and PIT, one vCPU — with the least possible work per
// exit: UART bytes to stdout, the exit port ends the run, the marker port records a timestamp,
// everything else is ignored (reads return zero). Port 0x70C has a KVM ioeventfd (16-bit, value 1).
//
// Usage: kvm-loop IMAGE. Prints the UART output, then one line per benchmark phase:
//   "phase N: T ns" (time from marker N to marker N+1), and "exit status S".
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) { perror(what); exit(2); }

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s IMAGE\n", argv[0]); return 2; }
    int img = open(argv[1], O_RDONLY);
    if (img < 0) die("open image");
    struct stat st;
    if (fstat(img, &st) < 0) die("fstat");
    size_t size = (size_t)st.st_size;
    if (size == 0 || size % 4096 || size > (128 << 10)) { fprintf(stderr, "image size must be a multiple of 4 KiB up to 128 KiB\n"); return 2; }

    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) die("/dev/kvm");
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0) die("KVM_CREATE_VM");
    __u64 ident = 0xfeffc000;
    if (ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, &ident) < 0) die("KVM_SET_IDENTITY_MAP_ADDR");
    if (ioctl(vm, KVM_SET_TSS_ADDR, 0xfeffd000ul) < 0) die("KVM_SET_TSS_ADDR");
    if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0) die("KVM_CREATE_IRQCHIP");
    struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
    if (ioctl(vm, KVM_CREATE_PIT2, &pit) < 0) die("KVM_CREATE_PIT2");

    size_t ram_size = 4 << 20;
    uint8_t *ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    uint8_t *rom = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ram == MAP_FAILED || rom == MAP_FAILED) die("mmap");
    if (read(img, rom, size) != (ssize_t)size) die("read image");
    memcpy(ram + 0x100000 - size, rom, size);
    struct kvm_userspace_memory_region r0 = { .slot = 0, .guest_phys_addr = 0, .memory_size = ram_size, .userspace_addr = (uintptr_t)ram };
    struct kvm_userspace_memory_region r1 = { .slot = 1, .flags = KVM_MEM_READONLY, .guest_phys_addr = (1ull << 32) - size,
                                              .memory_size = size, .userspace_addr = (uintptr_t)rom };
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r0) < 0 || ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r1) < 0) die("KVM_SET_USER_MEMORY_REGION");

    int notify = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct kvm_ioeventfd iofd = { .datamatch = 1, .addr = 0x70C, .len = 2, .fd = notify,
                                  .flags = KVM_IOEVENTFD_FLAG_PIO | KVM_IOEVENTFD_FLAG_DATAMATCH };
    if (ioctl(vm, KVM_IOEVENTFD, &iofd) < 0) die("KVM_IOEVENTFD");

    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0) die("KVM_CREATE_VCPU");
    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED) die("mmap kvm_run");
    // CPUID as KVM supports it (the guests need nothing else).
    struct { struct kvm_cpuid2 h; struct kvm_cpuid_entry2 e[256]; } cpuid = { .h.nent = 256 };
    if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &cpuid) < 0) die("KVM_GET_SUPPORTED_CPUID");
    if (ioctl(vcpu, KVM_SET_CPUID2, &cpuid) < 0) die("KVM_SET_CPUID2");

    uint64_t marks[16] = {0};
    for (;;) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0) {
            if (errno == EINTR) continue;
            die("KVM_RUN");
        }
        switch (run->exit_reason) {
        case KVM_EXIT_IO: {
            uint8_t *data = (uint8_t *)run + run->io.data_offset;
            if (run->io.direction == KVM_EXIT_IO_OUT) {
                if (run->io.port == 0x3f8) {
                    fwrite(data, run->io.size, run->io.count, stdout);
                } else if (run->io.port == 0x705) {
                    if (data[0] < 16) marks[data[0]] = now_ns();
                } else if (run->io.port == 0x501) {
                    for (int p = 1; p < 15; p++)
                        if (marks[p] && marks[p + 1]) printf("phase %d: %llu ns\n", p, (unsigned long long)(marks[p + 1] - marks[p]));
                    printf("exit status %d\n", data[0]);
                    return 0;
                }
            } else {
                memset(data, 0, (size_t)run->io.size * run->io.count);
            }
            break;
        }
        case KVM_EXIT_MMIO:
            if (!run->mmio.is_write) memset(run->mmio.data, 0, sizeof run->mmio.data);
            break;
        case KVM_EXIT_INTERNAL_ERROR:
            printf("exit internal error %u\n", run->internal.suberror);
            return 1;
        case KVM_EXIT_SHUTDOWN:
            printf("exit shutdown\n");
            return 1;
        case KVM_EXIT_HLT:
            printf("exit hlt\n");
            return 1;
        default:
            printf("exit reason %u\n", run->exit_reason);
            return 1;
        }
    }
}
