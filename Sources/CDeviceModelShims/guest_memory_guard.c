// The guest-memory SIGBUS guard: the one place that handles a fault in shared guest RAM.
//
// Guest RAM handed over by another process (a vhost-user frontend's memfd, a Xen or
// simulated-hypervisor mapping) is a shared file mapping; if its owner truncates the file,
// the next access raises SIGBUS and would kill the device model. Registered mappings are
// recognised here: the faulting page is replaced by a private zero page (so the access
// completes, reading zeros) and the mapping's slot is flagged poisoned, which the Swift side
// turns into DEVICE_NEEDS_RESET / a closed connection. Faults anywhere else go to the
// handler that was installed before (the Swift runtime's backtracer or the default action).
#define _GNU_SOURCE
#include "CDeviceModelShims.h"
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define GUARD_SLOTS 1024

struct guard_slot {
    _Atomic uintptr_t start;   // 0 while the slot is free or being filled
    _Atomic uintptr_t end;
    _Atomic int poisoned;
    _Atomic int taken;
};

static struct guard_slot slots[GUARD_SLOTS];
static struct sigaction previous;
static long page_size;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;

static void on_sigbus(int sig, siginfo_t *info, void *context) {
    uintptr_t address = (uintptr_t)info->si_addr;
    for (int i = 0; i < GUARD_SLOTS; i++) {
        uintptr_t start = atomic_load_explicit(&slots[i].start, memory_order_acquire);
        if (start == 0 || address < start) continue;
        if (address >= atomic_load_explicit(&slots[i].end, memory_order_acquire)) continue;
        // SAFETY: the page lies inside a mapping this process registered and has not yet
        // unregistered (unregister precedes munmap), so MAP_FIXED replaces only guest RAM.
        // mmap is a plain system call; it takes no user-space lock the interrupted code
        // could hold.
        void *page = (void *)(address & ~(uintptr_t)(page_size - 1));
        void *p = mmap(page, (size_t)page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        if (p != MAP_FAILED) {
            atomic_store_explicit(&slots[i].poisoned, 1, memory_order_release);
            return;  // the faulting access is retried and now succeeds
        }
        break;
    }
    // Not guest memory (or the page could not be replaced): let the previous handler or the
    // default action deal with it; returning re-executes the access, which faults again.
    sigaction(SIGBUS, &previous, NULL);
    (void)sig;
    (void)context;
}

static void install(void) {
    page_size = sysconf(_SC_PAGESIZE);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    sigaction(SIGBUS, &action, &previous);
}

int swiftdm_guard_register(void *start, size_t length) {
    pthread_once(&install_once, install);
    if (start == NULL || length == 0) return -1;
    for (int i = 0; i < GUARD_SLOTS; i++) {
        int expected = 0;
        if (!atomic_compare_exchange_strong(&slots[i].taken, &expected, 1)) continue;
        atomic_store_explicit(&slots[i].poisoned, 0, memory_order_relaxed);
        atomic_store_explicit(&slots[i].end, (uintptr_t)start + length, memory_order_release);
        atomic_store_explicit(&slots[i].start, (uintptr_t)start, memory_order_release);
        return i;
    }
    return -1;
}

void swiftdm_guard_unregister(int slot) {
    if (slot < 0 || slot >= GUARD_SLOTS) return;
    atomic_store_explicit(&slots[slot].start, 0, memory_order_release);
    atomic_store_explicit(&slots[slot].end, 0, memory_order_release);
    atomic_store_explicit(&slots[slot].taken, 0, memory_order_release);
}

int swiftdm_guard_poisoned(int slot) {
    if (slot < 0 || slot >= GUARD_SLOTS) return 0;
    return atomic_load_explicit(&slots[slot].poisoned, memory_order_acquire);
}
