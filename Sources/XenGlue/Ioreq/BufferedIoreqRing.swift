import CXen
import DeviceModel

/// One entry taken from the buffered ring: always a single write (`count == 1`, never
/// `data_is_ptr`), at most 1 MiB of address, 8-byte data joined from two slots.
struct BufferedIoreq: Equatable {
    var type: UInt8
    var address: UInt32
    var size: Int
    var data: UInt64
}

/// The consumer side of the buffered ioreq ring (`buffered_iopage_t`).
///
/// Xen fills `buf_ioreq[write_pointer % IOREQ_BUFFER_SLOT_NUM]` (and the next slot with
/// the high half of an 8-byte write), issues a write barrier, then advances
/// `write_pointer`; in `HVM_IOREQSRV_BUFIOREQ_ATOMIC` mode it also rebases both pointers
/// by a multiple of the ring size with one 64-bit compare-and-swap. The consumer reads
/// the pointers (re-reading `read_pointer` to detect a rebase in between), takes entries
/// and advances `read_pointer` with an atomic add. (Xen `ioreq_send_buffered`; QEMU
/// `handle_buffered_iopage`.)
struct BufferedIoreqRing {
    let page: UnsafeMutablePointer<buffered_iopage_t>

    static var slotCount: UInt32 { UInt32(IOREQ_BUFFER_SLOT_NUM) }

    /// Takes every complete entry in order. Faults (overrun, a torn 8-byte write, a read
    /// request) are reported and the offending slots skipped, so a corrupt ring never
    /// stalls the consumer. Returns the number of entries handed to `handle`.
    @discardableResult
    func drain(_ handle: (BufferedIoreq) -> Void, fault: (XenIoreqError) -> Void) -> Int {
        var taken = 0
        while true {
            let read = swiftdm_bufioreq_load_read_pointer(page)
            let write = swiftdm_bufioreq_load_write_pointer(page)
            // A rebase between the two loads would pair an old read pointer with a new
            // write pointer; read again if so.
            guard read == swiftdm_bufioreq_load_read_pointer(page) else { continue }
            if read == write { return taken }
            let available = write &- read
            guard available <= Self.slotCount else {
                fault(.bufferedRingOverrun(readPointer: read, writePointer: write))
                swiftdm_bufioreq_advance_read_pointer(page, available)
                return taken
            }
            let first = swiftdm_bufioreq_slot(page, read).pointee
            let size = 1 << Int(first.size)
            var data = UInt64(first.data)
            var consumed: UInt32 = 1
            if size == 8 {
                guard available >= 2 else {
                    fault(.bufferedIncompleteQuadWord(readPointer: read, writePointer: write))
                    swiftdm_bufioreq_advance_read_pointer(page, 1)
                    continue
                }
                data |= UInt64(swiftdm_bufioreq_slot(page, read &+ 1).pointee.data) << 32
                consumed = 2
            }
            // Finish reading the slots before handing them back to the producer.
            MemoryBarrier.read()
            swiftdm_bufioreq_advance_read_pointer(page, consumed)
            if first.dir == UInt8(IOREQ_READ) {
                fault(.bufferedRead(type: first.type, address: first.addr))
                continue
            }
            handle(BufferedIoreq(type: first.type, address: first.addr, size: size, data: data))
            taken += 1
        }
    }
}
