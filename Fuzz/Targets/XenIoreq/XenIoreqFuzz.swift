import CXen
import DeviceModel
import FuzzSupport
@testable import XenGlue

/// Xen ioreq decoding: the buffered ring (`buffered_iopage_t`, pointers and slots all the
/// hypervisor's — or a corrupted page's — choice) and synchronous `ioreq_t` slots.
///
/// Invariants beyond "no crash": draining the buffered ring always catches up with the
/// write pointer (a corrupt ring never stalls the consumer), takes at most one ring's worth
/// of entries, and hands out only writes of 1, 2, 4 or 8 bytes; a decoded `ioreq_t` keeps its type, direction, count and data kind.
@main
struct XenIoreqFuzz {
    static func main() {
        let page = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
        let ring = BufferedIoreqRing(page: page.bindMemory(to: buffered_iopage_t.self, capacity: 1))
        FuzzDriver.run { data in
            var input = FuzzInput(data)
            // A synchronous ioreq_t from the first bytes.
            var r = ioreq_t()
            withUnsafeMutableBytes(of: &r) { raw in
                for i in 0..<raw.count { raw[i] = input.u8() }
            }
            if let request = IORequest(xenIoreq: r) {
                let expected: IOSpace? = switch Int32(r.type) {
                case IOREQ_TYPE_PIO: .port
                case IOREQ_TYPE_COPY: .memory
                case IOREQ_TYPE_PCI_CONFIG: .pciConfig
                default: nil
                }
                invariant(request.space == expected, "ioreq type \(r.type) decoded as \(request.space)")
                invariant(request.address == r.addr && request.count == r.count)
                invariant((request.direction == .read) == (r.dir == UInt8(IOREQ_READ)))
                switch request.data {
                case .guestBuffer(let p): invariant(r.data_is_ptr != 0 && p == r.data)
                case .value(let v): invariant(r.data_is_ptr == 0 && v == r.data)
                default: fuzzFailure("unexpected data kind")
                }
            } else {
                invariant(![IOREQ_TYPE_PIO, IOREQ_TYPE_COPY, IOREQ_TYPE_PCI_CONFIG].contains(Int32(r.type)))
            }

            // The buffered page: the rest of the input, repeated.
            let image = input.rest()
            let bytes = page.assumingMemoryBound(to: UInt8.self)
            for i in 0..<4096 { bytes[i] = image.isEmpty ? 0 : image[i % image.count] }
            var taken = 0
            let drained = ring.drain({ entry in
                taken += 1
                invariant([1, 2, 4, 8].contains(entry.size), "entry of \(entry.size) bytes")
            }, fault: { _ in })
            invariant(drained == taken)
            invariant(taken <= Int(BufferedIoreqRing.slotCount), "more entries than the ring holds")
            let read = swiftdm_bufioreq_load_read_pointer(ring.page)
            let write = swiftdm_bufioreq_load_write_pointer(ring.page)
            invariant(read == write, "consumer stopped short: read \(read), write \(write)")
        }
    }
}
