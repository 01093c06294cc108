import GuestKit
#if canImport(Glibc)
import Glibc
#endif

/// The exit-cost scenario's floor: a minimal KVM loop in C, compiled with the host's `cc` at
/// bench time. It runs the same firmware image the way swiftdm and QEMU do (ROM ending at 4 GiB,
/// copied below 1 MiB, in-kernel irqchip and PIT, one vCPU) and does the least per exit: COM1
/// bytes to stdout unbuffered (the bench times the guest's lines), port 0x501 ends the run,
/// every other read returns zero.
enum MinimalKVMLoop {
    static let source = #"""
        #define _GNU_SOURCE
        #include <errno.h>
        #include <fcntl.h>
        #include <linux/kvm.h>
        #include <stdint.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <sys/ioctl.h>
        #include <sys/mman.h>
        #include <sys/stat.h>
        #include <unistd.h>

        static void die(const char *what) { perror(what); exit(2); }

        int main(int argc, char **argv) {
            if (argc != 2) { fprintf(stderr, "usage: %s IMAGE\n", argv[0]); return 2; }
            int img = open(argv[1], O_RDONLY);
            struct stat st;
            if (img < 0 || fstat(img, &st) < 0) die("image");
            size_t size = (size_t)st.st_size;
            if (size == 0 || size % 4096 || size > (128 << 10)) { fprintf(stderr, "bad image size\n"); return 2; }
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
            memcpy(ram + 0x100000 - (size < 0x20000 ? size : 0x20000), rom + size - (size < 0x20000 ? size : 0x20000), size < 0x20000 ? size : 0x20000);
            struct kvm_userspace_memory_region r0 = { .slot = 0, .guest_phys_addr = 0, .memory_size = ram_size, .userspace_addr = (uintptr_t)ram };
            struct kvm_userspace_memory_region r1 = { .slot = 1, .flags = KVM_MEM_READONLY, .guest_phys_addr = (1ull << 32) - size,
                                                      .memory_size = size, .userspace_addr = (uintptr_t)rom };
            if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r0) < 0 || ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r1) < 0) die("KVM_SET_USER_MEMORY_REGION");
            int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
            if (vcpu < 0) die("KVM_CREATE_VCPU");
            int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
            struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
            if (run == MAP_FAILED) die("mmap kvm_run");
            struct { struct kvm_cpuid2 h; struct kvm_cpuid_entry2 e[256]; } cpuid = { .h.nent = 256 };
            if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &cpuid) < 0) die("KVM_GET_SUPPORTED_CPUID");
            if (ioctl(vcpu, KVM_SET_CPUID2, &cpuid) < 0) die("KVM_SET_CPUID2");
            setvbuf(stdout, NULL, _IONBF, 0);
            for (;;) {
                if (ioctl(vcpu, KVM_RUN, 0) < 0) {
                    if (errno == EINTR) continue;
                    die("KVM_RUN");
                }
                switch (run->exit_reason) {
                case KVM_EXIT_IO: {
                    uint8_t *data = (uint8_t *)run + run->io.data_offset;
                    if (run->io.direction == KVM_EXIT_IO_OUT) {
                        if (run->io.port == 0x3f8) fwrite(data, run->io.size, run->io.count, stdout);
                        else if (run->io.port == 0x501) return data[0];
                    } else {
                        memset(data, 0, (size_t)run->io.size * run->io.count);
                    }
                    break;
                }
                case KVM_EXIT_MMIO:
                    if (!run->mmio.is_write) memset(run->mmio.data, 0, sizeof run->mmio.data);
                    break;
                default:
                    printf("exit reason %u\n", run->exit_reason);
                    return 1;
                }
            }
        }
        """#

    /// Compiles the loop into `directory` with the first C compiler found in `PATH` (`cc`,
    /// `gcc`, `clang`); `nil` when there is none.
    static func build(in directory: String) throws(MachineBenchError) -> String? {
        guard let compiler = ["cc", "gcc", "clang"].first(where: { HostCommand.exists($0) }) else { return nil }
        let sourcePath = directory + "/kvm-loop.c", binary = directory + "/kvm-loop"
        try BenchHost.write(Array(source.utf8), to: sourcePath)
        let run = try BenchChildProcess.run([compiler, "-O2", "-o", binary, sourcePath], lastMarker: "\u{0}", timeout: 120)
        guard access(binary, X_OK) == 0 else { throw .compileFailed(compiler: compiler, output: run.output) }
        return binary
    }
}
