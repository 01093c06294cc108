// The libxen 4.17 headers, plus small inline helpers for what Swift cannot express:
// ordered accesses to the `state` bitfield of `ioreq_t`, atomic updates of the buffered
// ring pointers, indexed slot access, and a `xentoollog_logger` that forwards messages
// to a callback instead of libxencall's default stderr printer.
#ifndef SWIFTDM_CXEN_SHIM_H
#define SWIFTDM_CXEN_SHIM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <xentoollog.h>
#include <xendevicemodel.h>
#include <xenforeignmemory.h>
#include <xenevtchn.h>
#include <xenstore.h>
#include <xen/memory.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/dm_op.h>
#include <xen/hvm/ioreq.h>

/// Xen's page size on x86 (XC_PAGE_SIZE); ioreq pages and foreign mappings use it.
#define SWIFTDM_XEN_PAGE_SIZE 4096u

// The ring-pointer helpers below treat the two 32-bit pointers as Xen's
// `union bufioreq_pointers` (read pointer in the low half); check that layout here.
_Static_assert(offsetof(buffered_iopage_t, read_pointer) == 0, "read_pointer at offset 0");
_Static_assert(offsetof(buffered_iopage_t, write_pointer) == 4, "write_pointer at offset 4");
_Static_assert(sizeof(buffered_iopage_t) <= SWIFTDM_XEN_PAGE_SIZE, "buffered_iopage_t fits a page");
_Static_assert(sizeof(buf_ioreq_t) == 8, "buf_ioreq_t is 8 bytes");

// MARK: - Per-vCPU ioreq slots (shared_iopage_t)

/// Number of `ioreq_t` slots that fit in the one shared ioreq page (one per vCPU).
static inline unsigned swiftdm_ioreq_slots_per_page(void) {
    return SWIFTDM_XEN_PAGE_SIZE / (unsigned)sizeof(ioreq_t);
}

/// The slot of `vcpu` in a shared ioreq page. The caller checks `vcpu` against
/// `swiftdm_ioreq_slots_per_page()`.
static inline ioreq_t *swiftdm_ioreq_slot(void *shared_page, unsigned vcpu) {
    return &((shared_iopage_t *)shared_page)->vcpu_ioreq[vcpu];
}

/// Reads `state`, then a read barrier (smp_rmb), so that the slot's other fields are
/// read after the state that published them — as Xen's and QEMU's readers do.
static inline uint8_t swiftdm_ioreq_load_state(const ioreq_t *p) {
    uint8_t state = ((const volatile ioreq_t *)p)->state;
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return state;
}

/// A write barrier (smp_wmb), then writes `state`: everything written to the slot before
/// is visible before the new state is.
static inline void swiftdm_ioreq_store_state(ioreq_t *p, uint8_t state) {
    __atomic_thread_fence(__ATOMIC_RELEASE);
    ((volatile ioreq_t *)p)->state = state;
}

/// Builds an `ioreq_t` value from its fields (the bitfields cannot be set in one Swift
/// initializer call).
static inline ioreq_t swiftdm_ioreq_make(uint64_t addr, uint64_t data, uint32_t count,
                                         uint32_t size, uint32_t vp_eport, uint8_t state,
                                         uint8_t data_is_ptr, uint8_t dir, uint8_t df,
                                         uint8_t type) {
    ioreq_t r = {0};
    r.addr = addr;
    r.data = data;
    r.count = count;
    r.size = size;
    r.vp_eport = vp_eport;
    r.state = state & 0xf;
    r.data_is_ptr = data_is_ptr & 1;
    r.dir = dir & 1;
    r.df = df & 1;
    r.type = type;
    return r;
}

// MARK: - Buffered ioreq ring (buffered_iopage_t)

/// The slot a ring pointer designates (pointers count up; slots wrap).
static inline buf_ioreq_t *swiftdm_bufioreq_slot(buffered_iopage_t *page, uint32_t pointer) {
    return &page->buf_ioreq[pointer % IOREQ_BUFFER_SLOT_NUM];
}

static inline uint32_t swiftdm_bufioreq_load_read_pointer(const buffered_iopage_t *page) {
    return __atomic_load_n(&page->read_pointer, __ATOMIC_ACQUIRE);
}

static inline uint32_t swiftdm_bufioreq_load_write_pointer(const buffered_iopage_t *page) {
    return __atomic_load_n(&page->write_pointer, __ATOMIC_ACQUIRE);
}

/// Consumer side: advances the read pointer by `n` with an atomic add, because the
/// producer (Xen, in HVM_IOREQSRV_BUFIOREQ_ATOMIC mode) may concurrently rebase both
/// pointers with a 64-bit compare-and-swap.
static inline void swiftdm_bufioreq_advance_read_pointer(buffered_iopage_t *page, uint32_t n) {
    __atomic_fetch_add(&page->read_pointer, n, __ATOMIC_SEQ_CST);
}

/// Producer side: publishes a new write pointer after the slots (release store).
static inline void swiftdm_bufioreq_store_write_pointer(buffered_iopage_t *page, uint32_t value) {
    __atomic_store_n(&page->write_pointer, value, __ATOMIC_RELEASE);
}

/// Producer side: Xen's pointer canonicalisation — replaces both pointers at once
/// (`cmpxchg(&pg->ptrs.full, old.full, new.full)`). Returns 1 when it swapped.
static inline int swiftdm_bufioreq_rebase_pointers(buffered_iopage_t *page,
                                                   uint32_t old_read, uint32_t old_write,
                                                   uint32_t new_read, uint32_t new_write) {
    uint64_t expected = (uint64_t)old_read | ((uint64_t)old_write << 32);
    uint64_t desired = (uint64_t)new_read | ((uint64_t)new_write << 32);
    return __atomic_compare_exchange_n((uint64_t *)(void *)page, &expected, desired, 0,
                                       __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/// Builds a `buf_ioreq_t` (bitfields) from its fields.
static inline buf_ioreq_t swiftdm_bufioreq_make(uint8_t type, uint8_t dir, uint8_t size_log2,
                                                uint32_t addr, uint32_t data) {
    buf_ioreq_t b = {0};
    b.type = type;
    b.dir = dir & 1;
    b.size = size_log2 & 3;
    b.addr = addr & 0xfffff;
    b.data = data;
    return b;
}

/// Stores a slot with plain (non-torn per field) writes; ordering comes from the
/// following write-pointer release store.
static inline void swiftdm_bufioreq_store_slot(buffered_iopage_t *page, uint32_t pointer, buf_ioreq_t value) {
    *swiftdm_bufioreq_slot(page, pointer) = value;
}

// MARK: - Simulated hypervisor support

// MARK: - xentoollog logger

/// Receives one formatted libxen log line.
typedef void (*swiftdm_xtl_sink)(void *context, int level, int errnoval, const char *message);

/// A `xentoollog_logger` whose messages go to `sink` (instead of stderr).
typedef struct swiftdm_xtl_logger {
    xentoollog_logger vtable; // must be first: libxen calls through it
    swiftdm_xtl_sink sink;
    void *context;
} swiftdm_xtl_logger;

static void swiftdm_xtl_vmessage(xentoollog_logger *logger, xentoollog_level level, int errnoval,
                                 const char *context, const char *format, va_list al)
    __attribute__((format(printf, 5, 0)));
static void swiftdm_xtl_vmessage(xentoollog_logger *logger, xentoollog_level level, int errnoval,
                                 const char *context, const char *format, va_list al) {
    swiftdm_xtl_logger *self = (swiftdm_xtl_logger *)logger;
    char line[512];
    int n = 0;
    if (context) n = snprintf(line, sizeof line, "%s: ", context);
    if (n < 0 || (size_t)n >= sizeof line) n = 0;
    vsnprintf(line + n, sizeof line - (size_t)n, format, al);
    if (self->sink) self->sink(self->context, (int)level, errnoval, line);
}

static void swiftdm_xtl_progress(xentoollog_logger *logger, const char *context,
                                 const char *doing_what, int percent,
                                 unsigned long done, unsigned long total) {
    (void)logger; (void)context; (void)doing_what; (void)percent; (void)done; (void)total;
}

static void swiftdm_xtl_destroy(xentoollog_logger *logger) { (void)logger; }

/// Fills in `logger`'s vtable; libxen keeps the pointer, so it must outlive every handle.
static inline void swiftdm_xtl_logger_init(swiftdm_xtl_logger *logger, swiftdm_xtl_sink sink, void *context) {
    logger->vtable.vmessage = swiftdm_xtl_vmessage;
    logger->vtable.progress = swiftdm_xtl_progress;
    logger->vtable.destroy = swiftdm_xtl_destroy;
    logger->sink = sink;
    logger->context = context;
}

static inline xentoollog_logger *swiftdm_xtl_logger_base(swiftdm_xtl_logger *logger) {
    return &logger->vtable;
}

#endif
