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
