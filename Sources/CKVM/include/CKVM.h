// A thin C layer over <linux/kvm.h> for KVMGlue.
//
// Swift cannot expand the _IOW/_IOR ioctl-number macros, call the variadic ioctl(2),
// reach into kvm_run's anonymous unions, or size structs that end in a flexible array.
// Each helper below does exactly one of those things and nothing else: every function
// returns what the ioctl returns (-1 with errno set on failure).
#ifndef SWIFTDM_CKVM_H
#define SWIFTDM_CKVM_H

#include <linux/kvm.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>

// MARK: - /dev/kvm (system) ioctls

static inline int ckvm_get_api_version(int kvm_fd) { return ioctl(kvm_fd, KVM_GET_API_VERSION, 0); }
static inline int ckvm_check_extension(int fd, int capability) { return ioctl(fd, KVM_CHECK_EXTENSION, capability); }
static inline int ckvm_create_vm(int kvm_fd) { return ioctl(kvm_fd, KVM_CREATE_VM, 0); }
static inline int ckvm_get_vcpu_mmap_size(int kvm_fd) { return ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0); }

/// KVM_GET_SUPPORTED_CPUID into `entries` (capacity `capacity`); stores the count in `*count`.
/// Fails with E2BIG when `capacity` is too small.
int ckvm_get_supported_cpuid(int kvm_fd, struct kvm_cpuid_entry2 *entries, uint32_t capacity, uint32_t *count);

// MARK: - VM ioctls

static inline int ckvm_set_tss_addr(int vm_fd, uint64_t address) { return ioctl(vm_fd, KVM_SET_TSS_ADDR, (unsigned long)address); }
static inline int ckvm_set_identity_map_addr(int vm_fd, uint64_t address) {
    __u64 a = address;
    return ioctl(vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &a);
}
static inline int ckvm_create_irqchip(int vm_fd) { return ioctl(vm_fd, KVM_CREATE_IRQCHIP, 0); }
static inline int ckvm_create_pit2(int vm_fd, uint32_t flags) {
    struct kvm_pit_config config;
    memset(&config, 0, sizeof config);
    config.flags = flags;
    return ioctl(vm_fd, KVM_CREATE_PIT2, &config);
}
static inline int ckvm_set_user_memory_region(int vm_fd, uint32_t slot, uint32_t flags,
                                              uint64_t guest_phys, uint64_t size, void *host) {
    struct kvm_userspace_memory_region region = {
        .slot = slot, .flags = flags, .guest_phys_addr = guest_phys,
        .memory_size = size, .userspace_addr = (__u64)(uintptr_t)host,
    };
    return ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region);
}
static inline int ckvm_create_vcpu(int vm_fd, uint32_t id) { return ioctl(vm_fd, KVM_CREATE_VCPU, (unsigned long)id); }

/// KVM_IOEVENTFD. `pio` selects port I/O; `has_datamatch` sets KVM_IOEVENTFD_FLAG_DATAMATCH;
/// `deassign` removes a previous assignment with identical parameters.
static inline int ckvm_ioeventfd(int vm_fd, uint64_t address, uint32_t length, int fd,
                                 int pio, int has_datamatch, uint64_t datamatch, int deassign) {
    struct kvm_ioeventfd e;
    memset(&e, 0, sizeof e);
    e.addr = address;
    e.len = length;
    e.fd = fd;
    e.datamatch = datamatch;
    if (pio) e.flags |= KVM_IOEVENTFD_FLAG_PIO;
    if (has_datamatch) e.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
    if (deassign) e.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
    return ioctl(vm_fd, KVM_IOEVENTFD, &e);
}

/// KVM_IRQFD: signalling eventfd `fd` raises `gsi`; `resample_fd` >= 0 makes it level-triggered
/// (KVM_IRQFD_FLAG_RESAMPLE), `deassign` detaches it.
static inline int ckvm_irqfd(int vm_fd, int fd, uint32_t gsi, int resample_fd, int deassign) {
    struct kvm_irqfd i;
    memset(&i, 0, sizeof i);
    i.fd = (__u32)fd;
    i.gsi = gsi;
    if (resample_fd >= 0) {
        i.flags |= KVM_IRQFD_FLAG_RESAMPLE;
        i.resamplefd = (__u32)resample_fd;
    }
    if (deassign) i.flags |= KVM_IRQFD_FLAG_DEASSIGN;
    return ioctl(vm_fd, KVM_IRQFD, &i);
}

/// KVM_SIGNAL_MSI: > 0 delivered, 0 blocked by the guest, < 0 error.
static inline int ckvm_signal_msi(int vm_fd, uint64_t address, uint32_t data) {
    struct kvm_msi msi;
    memset(&msi, 0, sizeof msi);
    msi.address_lo = (__u32)address;
    msi.address_hi = (__u32)(address >> 32);
    msi.data = data;
    return ioctl(vm_fd, KVM_SIGNAL_MSI, &msi);
}

/// KVM_IRQ_LINE: drives GSI `irq` to `level` through the in-kernel PIC/IOAPIC routing.
static inline int ckvm_irq_line(int vm_fd, uint32_t irq, uint32_t level) {
    struct kvm_irq_level l;
    memset(&l, 0, sizeof l);
    l.irq = irq;
    l.level = level;
    return ioctl(vm_fd, KVM_IRQ_LINE, &l);
}

/// One GSI route in a form Swift can build (kvm_irq_routing_entry's union flattened).
struct ckvm_route {
    uint32_t gsi;
    /// KVM_IRQ_ROUTING_IRQCHIP or KVM_IRQ_ROUTING_MSI.
    uint32_t type;
    /// For IRQCHIP routes: KVM_IRQCHIP_PIC_MASTER/PIC_SLAVE/IOAPIC and the pin.
    uint32_t irqchip;
    uint32_t pin;
    /// For MSI routes.
    uint64_t msi_address;
    uint32_t msi_data;
};

/// KVM_SET_GSI_ROUTING: replaces the whole routing table with `routes`.
int ckvm_set_gsi_routing(int vm_fd, const struct ckvm_route *routes, uint32_t count);

static inline uint32_t ckvm_route_type_irqchip(void) { return KVM_IRQ_ROUTING_IRQCHIP; }
static inline uint32_t ckvm_route_type_msi(void) { return KVM_IRQ_ROUTING_MSI; }
static inline uint32_t ckvm_irqchip_pic_master(void) { return KVM_IRQCHIP_PIC_MASTER; }
static inline uint32_t ckvm_irqchip_pic_slave(void) { return KVM_IRQCHIP_PIC_SLAVE; }
static inline uint32_t ckvm_irqchip_ioapic(void) { return KVM_IRQCHIP_IOAPIC; }
static inline uint32_t ckvm_mem_readonly_flag(void) { return KVM_MEM_READONLY; }
static inline uint32_t ckvm_pit_speaker_dummy_flag(void) { return KVM_PIT_SPEAKER_DUMMY; }

// MARK: - vCPU ioctls

static inline int ckvm_run(int vcpu_fd) { return ioctl(vcpu_fd, KVM_RUN, 0); }
static inline int ckvm_get_regs(int vcpu_fd, struct kvm_regs *regs) { return ioctl(vcpu_fd, KVM_GET_REGS, regs); }
static inline int ckvm_set_regs(int vcpu_fd, const struct kvm_regs *regs) { return ioctl(vcpu_fd, KVM_SET_REGS, regs); }
static inline int ckvm_get_sregs(int vcpu_fd, struct kvm_sregs *sregs) { return ioctl(vcpu_fd, KVM_GET_SREGS, sregs); }
static inline int ckvm_set_sregs(int vcpu_fd, const struct kvm_sregs *sregs) { return ioctl(vcpu_fd, KVM_SET_SREGS, sregs); }
static inline int ckvm_get_mp_state(int vcpu_fd, uint32_t *state) {
    struct kvm_mp_state s;
    int r = ioctl(vcpu_fd, KVM_GET_MP_STATE, &s);
    if (r == 0) *state = s.mp_state;
    return r;
}

/// KVM_SET_CPUID2 with `count` entries.
int ckvm_set_cpuid(int vcpu_fd, const struct kvm_cpuid_entry2 *entries, uint32_t count);

// MARK: - vCPU and VM state (snapshot and restore)
//
// Each wraps one ioctl on a caller-owned struct of the ioctl's exact type (XSAVE2: a buffer of at
// least KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2) bytes, which the kernel may fill beyond 4096 bytes).

static inline int ckvm_set_mp_state(int vcpu_fd, uint32_t state) {
    struct kvm_mp_state s = { .mp_state = state };
    return ioctl(vcpu_fd, KVM_SET_MP_STATE, &s);
}
static inline int ckvm_get_fpu(int vcpu_fd, struct kvm_fpu *fpu) { return ioctl(vcpu_fd, KVM_GET_FPU, fpu); }
static inline int ckvm_set_fpu(int vcpu_fd, const struct kvm_fpu *fpu) { return ioctl(vcpu_fd, KVM_SET_FPU, fpu); }
static inline int ckvm_get_xsave(int vcpu_fd, void *xsave) { return ioctl(vcpu_fd, KVM_GET_XSAVE, xsave); }
static inline int ckvm_get_xsave2(int vcpu_fd, void *xsave) { return ioctl(vcpu_fd, KVM_GET_XSAVE2, xsave); }
static inline int ckvm_set_xsave(int vcpu_fd, const void *xsave) { return ioctl(vcpu_fd, KVM_SET_XSAVE, xsave); }
static inline int ckvm_get_xcrs(int vcpu_fd, struct kvm_xcrs *xcrs) { return ioctl(vcpu_fd, KVM_GET_XCRS, xcrs); }
static inline int ckvm_set_xcrs(int vcpu_fd, const struct kvm_xcrs *xcrs) { return ioctl(vcpu_fd, KVM_SET_XCRS, xcrs); }
static inline int ckvm_get_lapic(int vcpu_fd, struct kvm_lapic_state *lapic) { return ioctl(vcpu_fd, KVM_GET_LAPIC, lapic); }
static inline int ckvm_set_lapic(int vcpu_fd, const struct kvm_lapic_state *lapic) { return ioctl(vcpu_fd, KVM_SET_LAPIC, lapic); }
static inline int ckvm_get_vcpu_events(int vcpu_fd, struct kvm_vcpu_events *e) { return ioctl(vcpu_fd, KVM_GET_VCPU_EVENTS, e); }
static inline int ckvm_set_vcpu_events(int vcpu_fd, const struct kvm_vcpu_events *e) { return ioctl(vcpu_fd, KVM_SET_VCPU_EVENTS, e); }
static inline int ckvm_get_debugregs(int vcpu_fd, struct kvm_debugregs *d) { return ioctl(vcpu_fd, KVM_GET_DEBUGREGS, d); }
static inline int ckvm_set_debugregs(int vcpu_fd, const struct kvm_debugregs *d) { return ioctl(vcpu_fd, KVM_SET_DEBUGREGS, d); }

/// KVM_GET_CPUID2 into `entries` (capacity `capacity`); stores the count in `*count`.
/// Fails with E2BIG when `capacity` is too small.
int ckvm_get_cpuid(int vcpu_fd, struct kvm_cpuid_entry2 *entries, uint32_t capacity, uint32_t *count);

/// KVM_GET_MSR_INDEX_LIST (on /dev/kvm) into `indices` (capacity `capacity`); stores the count in
/// `*count`. Fails with E2BIG (and the needed count in `*count`) when `capacity` is too small.
int ckvm_get_msr_index_list(int kvm_fd, uint32_t *indices, uint32_t capacity, uint32_t *count);

/// KVM_GET_MSRS for `count` MSRs: reads `indices`, writes `values`. Returns how many MSRs were
/// read, in order (fewer than `count`: the next one failed), or -1 with errno.
int ckvm_get_msrs(int vcpu_fd, const uint32_t *indices, uint64_t *values, uint32_t count);

/// KVM_SET_MSRS for `count` MSRs, in order. Returns how many were written (fewer than `count`:
/// the next one was refused), or -1 with errno.
int ckvm_set_msrs(int vcpu_fd, const uint32_t *indices, const uint64_t *values, uint32_t count);

/// KVM_GET_IRQCHIP for `chip_id` (KVM_IRQCHIP_PIC_MASTER/PIC_SLAVE/IOAPIC): its 512-byte state.
int ckvm_get_irqchip(int vm_fd, uint32_t chip_id, uint8_t state[512]);
/// KVM_SET_IRQCHIP for `chip_id` from its 512-byte state.
int ckvm_set_irqchip(int vm_fd, uint32_t chip_id, const uint8_t state[512]);

static inline int ckvm_get_pit2(int vm_fd, struct kvm_pit_state2 *pit) { return ioctl(vm_fd, KVM_GET_PIT2, pit); }
static inline int ckvm_set_pit2(int vm_fd, const struct kvm_pit_state2 *pit) { return ioctl(vm_fd, KVM_SET_PIT2, pit); }

/// KVM_GET_CLOCK: the VM's kvmclock in nanoseconds.
static inline int ckvm_get_clock(int vm_fd, uint64_t *ns) {
    struct kvm_clock_data d;
    memset(&d, 0, sizeof d);
    int r = ioctl(vm_fd, KVM_GET_CLOCK, &d);
    if (r == 0) *ns = d.clock;
    return r;
}
/// KVM_SET_CLOCK: sets the VM's kvmclock to `ns` (no flags).
static inline int ckvm_set_clock(int vm_fd, uint64_t ns) {
    struct kvm_clock_data d;
    memset(&d, 0, sizeof d);
    d.clock = ns;
    return ioctl(vm_fd, KVM_SET_CLOCK, &d);
}

/// KVM_KVMCLOCK_CTRL: tells a guest with kvmclock that the host stopped the vCPU (EINVAL when the
/// guest has not enabled kvmclock).
static inline int ckvm_kvmclock_ctrl(int vcpu_fd) { return ioctl(vcpu_fd, KVM_KVMCLOCK_CTRL, 0); }

static inline uint32_t ckvm_irqchip_state_size(void) { return sizeof(((struct kvm_irqchip *)0)->chip); }
static inline uint32_t ckvm_max_xcrs(void) { return KVM_MAX_XCRS; }

// MARK: - kvm_run accessors (the shared page of a vCPU)

static inline uint32_t ckvm_run_exit_reason(const struct kvm_run *run) { return run->exit_reason; }

/// Sets `immediate_exit` with a release store: another thread asks the vCPU to leave KVM_RUN.
static inline void ckvm_run_set_immediate_exit(struct kvm_run *run, uint8_t value) {
    __atomic_store_n(&run->immediate_exit, value, __ATOMIC_RELEASE);
}

static inline uint8_t ckvm_run_io_direction(const struct kvm_run *run) { return run->io.direction; }
static inline uint8_t ckvm_run_io_size(const struct kvm_run *run) { return run->io.size; }
static inline uint16_t ckvm_run_io_port(const struct kvm_run *run) { return run->io.port; }
static inline uint32_t ckvm_run_io_count(const struct kvm_run *run) { return run->io.count; }
static inline uint64_t ckvm_run_io_data_offset(const struct kvm_run *run) { return run->io.data_offset; }
static inline uint8_t ckvm_io_direction_out(void) { return KVM_EXIT_IO_OUT; }

static inline uint64_t ckvm_run_mmio_phys_addr(const struct kvm_run *run) { return run->mmio.phys_addr; }
static inline uint32_t ckvm_run_mmio_len(const struct kvm_run *run) { return run->mmio.len; }
static inline uint8_t ckvm_run_mmio_is_write(const struct kvm_run *run) { return run->mmio.is_write; }
/// The address of the 8-byte mmio.data buffer (little-endian guest data).
static inline uint8_t *ckvm_run_mmio_data(struct kvm_run *run) { return run->mmio.data; }

static inline uint64_t ckvm_run_fail_entry_reason(const struct kvm_run *run) { return run->fail_entry.hardware_entry_failure_reason; }
static inline uint32_t ckvm_run_fail_entry_cpu(const struct kvm_run *run) { return run->fail_entry.cpu; }
static inline uint64_t ckvm_run_hw_exit_reason(const struct kvm_run *run) { return run->hw.hardware_exit_reason; }
static inline uint32_t ckvm_run_internal_suberror(const struct kvm_run *run) { return run->internal.suberror; }
static inline uint32_t ckvm_run_internal_ndata(const struct kvm_run *run) { return run->internal.ndata; }
/// internal.data[i] for i < 16 (0 beyond).
static inline uint64_t ckvm_run_internal_data(const struct kvm_run *run, uint32_t i) { return i < 16 ? run->internal.data[i] : 0; }
static inline uint32_t ckvm_run_system_event_type(const struct kvm_run *run) { return run->system_event.type; }
static inline uint32_t ckvm_run_exception(const struct kvm_run *run) { return run->ex.exception; }
static inline uint32_t ckvm_run_exception_error_code(const struct kvm_run *run) { return run->ex.error_code; }

// MARK: - Signals

/// Installs a handler for `signo` that does nothing, without SA_RESTART, so that
/// pthread_kill(vcpu_thread, signo) makes a blocking KVM_RUN return EINTR. Returns sigaction's result.
int ckvm_install_kick_handler(int signo);

/// Unblocks `signo` in the calling thread (vCPU threads must receive the kick).
int ckvm_unblock_signal(int signo);

#endif
