#define _GNU_SOURCE
#include "CKVM.h"
#include <errno.h>
#include <signal.h>
#include <stdlib.h>

int ckvm_get_supported_cpuid(int kvm_fd, struct kvm_cpuid_entry2 *entries, uint32_t capacity, uint32_t *count) {
    size_t bytes = sizeof(struct kvm_cpuid2) + (size_t)capacity * sizeof(struct kvm_cpuid_entry2);
    struct kvm_cpuid2 *cpuid = calloc(1, bytes);
    if (!cpuid) { errno = ENOMEM; return -1; }
    cpuid->nent = capacity;
    int r = ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid);
    if (r == 0) {
        uint32_t n = cpuid->nent <= capacity ? cpuid->nent : capacity;
        memcpy(entries, cpuid->entries, (size_t)n * sizeof(struct kvm_cpuid_entry2));
        *count = n;
    }
    int saved = errno;
    free(cpuid);
    errno = saved;
    return r;
}

int ckvm_set_cpuid(int vcpu_fd, const struct kvm_cpuid_entry2 *entries, uint32_t count) {
    size_t bytes = sizeof(struct kvm_cpuid2) + (size_t)count * sizeof(struct kvm_cpuid_entry2);
    struct kvm_cpuid2 *cpuid = calloc(1, bytes);
    if (!cpuid) { errno = ENOMEM; return -1; }
    cpuid->nent = count;
    memcpy(cpuid->entries, entries, (size_t)count * sizeof(struct kvm_cpuid_entry2));
    int r = ioctl(vcpu_fd, KVM_SET_CPUID2, cpuid);
    int saved = errno;
    free(cpuid);
    errno = saved;
    return r;
}

int ckvm_set_gsi_routing(int vm_fd, const struct ckvm_route *routes, uint32_t count) {
    size_t bytes = sizeof(struct kvm_irq_routing) + (size_t)count * sizeof(struct kvm_irq_routing_entry);
    struct kvm_irq_routing *table = calloc(1, bytes);
    if (!table) { errno = ENOMEM; return -1; }
    table->nr = count;
    for (uint32_t i = 0; i < count; i++) {
        struct kvm_irq_routing_entry *e = &table->entries[i];
        e->gsi = routes[i].gsi;
        e->type = routes[i].type;
        if (routes[i].type == KVM_IRQ_ROUTING_MSI) {
            e->u.msi.address_lo = (__u32)routes[i].msi_address;
            e->u.msi.address_hi = (__u32)(routes[i].msi_address >> 32);
            e->u.msi.data = routes[i].msi_data;
        } else {
            e->u.irqchip.irqchip = routes[i].irqchip;
            e->u.irqchip.pin = routes[i].pin;
        }
    }
    int r = ioctl(vm_fd, KVM_SET_GSI_ROUTING, table);
    int saved = errno;
    free(table);
    errno = saved;
    return r;
}

int ckvm_get_cpuid(int vcpu_fd, struct kvm_cpuid_entry2 *entries, uint32_t capacity, uint32_t *count) {
    size_t bytes = sizeof(struct kvm_cpuid2) + (size_t)capacity * sizeof(struct kvm_cpuid_entry2);
    struct kvm_cpuid2 *cpuid = calloc(1, bytes);
    if (!cpuid) { errno = ENOMEM; return -1; }
    cpuid->nent = capacity;
    int r = ioctl(vcpu_fd, KVM_GET_CPUID2, cpuid);
    if (r == 0) {
        uint32_t n = cpuid->nent <= capacity ? cpuid->nent : capacity;
        memcpy(entries, cpuid->entries, (size_t)n * sizeof(struct kvm_cpuid_entry2));
        *count = n;
    }
    int saved = errno;
    free(cpuid);
    errno = saved;
    return r;
}

int ckvm_get_msr_index_list(int kvm_fd, uint32_t *indices, uint32_t capacity, uint32_t *count) {
    size_t bytes = sizeof(struct kvm_msr_list) + (size_t)capacity * sizeof(__u32);
    struct kvm_msr_list *list = calloc(1, bytes);
    if (!list) { errno = ENOMEM; return -1; }
    list->nmsrs = capacity;
    int r = ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, list);
    int saved = errno;
    if (r == 0) {
        uint32_t n = list->nmsrs <= capacity ? list->nmsrs : capacity;
        memcpy(indices, list->indices, (size_t)n * sizeof(__u32));
        *count = n;
    } else if (saved == E2BIG) {
        *count = list->nmsrs;
    }
    free(list);
    errno = saved;
    return r;
}

static struct kvm_msrs *ckvm_msrs_alloc(uint32_t count) {
    return calloc(1, sizeof(struct kvm_msrs) + (size_t)count * sizeof(struct kvm_msr_entry));
}

int ckvm_get_msrs(int vcpu_fd, const uint32_t *indices, uint64_t *values, uint32_t count) {
    struct kvm_msrs *msrs = ckvm_msrs_alloc(count);
    if (!msrs) { errno = ENOMEM; return -1; }
    msrs->nmsrs = count;
    for (uint32_t i = 0; i < count; i++) msrs->entries[i].index = indices[i];
    int r = ioctl(vcpu_fd, KVM_GET_MSRS, msrs);
    int saved = errno;
    if (r > 0) {
        uint32_t n = (uint32_t)r <= count ? (uint32_t)r : count;
        for (uint32_t i = 0; i < n; i++) values[i] = msrs->entries[i].data;
    }
    free(msrs);
    errno = saved;
    return r;
}

int ckvm_set_msrs(int vcpu_fd, const uint32_t *indices, const uint64_t *values, uint32_t count) {
    struct kvm_msrs *msrs = ckvm_msrs_alloc(count);
    if (!msrs) { errno = ENOMEM; return -1; }
    msrs->nmsrs = count;
    for (uint32_t i = 0; i < count; i++) {
        msrs->entries[i].index = indices[i];
        msrs->entries[i].data = values[i];
    }
    int r = ioctl(vcpu_fd, KVM_SET_MSRS, msrs);
    int saved = errno;
    free(msrs);
    errno = saved;
    return r;
}

int ckvm_get_irqchip(int vm_fd, uint32_t chip_id, uint8_t state[512]) {
    struct kvm_irqchip chip;
    memset(&chip, 0, sizeof chip);
    chip.chip_id = chip_id;
    int r = ioctl(vm_fd, KVM_GET_IRQCHIP, &chip);
    if (r == 0) memcpy(state, &chip.chip, sizeof chip.chip);
    return r;
}

int ckvm_set_irqchip(int vm_fd, uint32_t chip_id, const uint8_t state[512]) {
    struct kvm_irqchip chip;
    memset(&chip, 0, sizeof chip);
    chip.chip_id = chip_id;
    memcpy(&chip.chip, state, sizeof chip.chip);
    return ioctl(vm_fd, KVM_SET_IRQCHIP, &chip);
}

static void ckvm_kick_handler(int signo) { (void)signo; }

int ckvm_install_kick_handler(int signo) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ckvm_kick_handler;
    sigemptyset(&sa.sa_mask);
    // No SA_RESTART: the point is to interrupt KVM_RUN.
    sa.sa_flags = 0;
    return sigaction(signo, &sa, NULL);
}

int ckvm_unblock_signal(int signo) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo);
    return pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}
