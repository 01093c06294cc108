import CDeviceModelShims
import DeviceModel
import FuzzSupport
@testable import VhostUser
#if canImport(Glibc)
import Glibc
#endif

/// The vhost-user inflight buffer (vhost-user.rst "Inflight I/O tracking") as a hostile
/// frontend may hand it over: every header field and descriptor entry is the input's, and
/// the backend recovers the ring from it, then records requests in it and recovers again.
///
/// Invariants beyond "no crash": recovery returns distinct heads below the ring size, oldest
/// counter first, marks the region initialised and at the used index; after the backend then
/// takes heads and returns some of them (also with a "crash" between publishing a batch's used
/// index and clearing it), the next recovery returns exactly the heads still out — the
/// earlier ones first, then the new ones in the order taken.
@main
struct VhostUserInflightFuzz {
    static let queueSize: UInt16 = 256
    static let regionSize = Int(InflightBuffer.queueRegionSize(queueSize: queueSize))

    static func main() {
        let fd = swiftdm_memfd("fuzz-inflight")
        invariant(fd >= 0 && ftruncate(fd, off_t(regionSize)) == 0)
        guard let region = mmap(nil, regionSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), region != MAP_FAILED else {
            fuzzFailure("mmap")
        }
        let payload = InflightPayload(mmapSize: UInt64(regionSize), mmapOffset: 0, queueCount: 1, queueSize: queueSize)
        guard let buffer = try? InflightBuffer(payload, descriptor: ReceivedDescriptor(fd), deviceQueues: 1) else {
            fuzzFailure("cannot map the inflight buffer")
        }
        func inflight(_ h: UInt16) -> UInt8 { region.load(fromByteOffset: 16 + 16 * Int(h), as: UInt8.self) }
        func counter(_ h: UInt16) -> UInt64 { region.loadUnaligned(fromByteOffset: 16 + 16 * Int(h) + 8, as: UInt64.self) }
        func header(_ offset: Int) -> UInt16 { region.loadUnaligned(fromByteOffset: offset, as: UInt16.self) }

        FuzzDriver.run { data in
            var input = FuzzInput(data)
            let ringSize = UInt16(1) << (input.u8() % 9)
            let usedIndex = input.u16()
            let image = input.take(regionSize)
            for i in 0..<regionSize { region.storeBytes(of: image.isEmpty ? 0 : image[i % image.count], toByteOffset: i, as: UInt8.self) }
            let wasInitialised = header(8) == 1
            guard let log = buffer.log(ring: 0, ringSize: ringSize) else { fuzzFailure("no log for ring 0") }

            let resubmit = log.recover(usedIndex: usedIndex, ringSize: ringSize)
            invariant(header(8) == 1 && header(10) == queueSize && header(14) == usedIndex, "region not brought to the used index")
            invariant(wasInitialised || resubmit.isEmpty, "a fresh region yielded heads to resubmit")
            invariant(Set(resubmit).count == resubmit.count, "a head to resubmit twice")
            invariant(resubmit.allSatisfy { $0 < ringSize && inflight($0) == 1 }, "resubmitting a head that is not in flight")
            invariant(zip(resubmit, resubmit.dropFirst()).allSatisfy { counter($0) <= counter($1) }, "resubmission out of counter order")
            invariant((0..<ringSize).filter { inflight($0) == 1 }.count == resubmit.count, "a head in flight left out")
            // Counters near the top wrap for new heads; ordering across the wrap is the
            // frontend's problem (it wrote them), not checked.
            let ordered = resubmit.allSatisfy { counter($0) < UInt64.max - 1024 }

            // The backend runs: takes new heads, returns some (the resubmitted ones too).
            var out = resubmit
            var used = usedIndex
            var free = (0..<ringSize).filter { !resubmit.contains($0) }
            for _ in 0..<Int(input.u8() % 16) where !input.isExhausted {
                let op = input.u8()
                if op & 1 == 0, !free.isEmpty {
                    let head = free.remove(at: Int(input.u8()) % free.count)
                    log.headTaken(head)
                    out.append(head)
                } else if !out.isEmpty {
                    // Return a batch of 1–3 heads; maybe "crash" before clearing it.
                    let count = min(out.count, 1 + Int(op >> 1) % 3)
                    var batch: [UInt16] = []
                    for _ in 0..<count { batch.append(out.remove(at: Int(input.u8()) % out.count)) }
                    for head in batch { log.headPublishing(head) }
                    used &+= UInt16(batch.count)
                    if op & 0x80 != 0 {
                        let again = log.recover(usedIndex: used, ringSize: ringSize)
                        invariant(Set(again) == Set(out), "after a crash between used index and clear: \(again) for \(out)")
                        if ordered { invariant(again == out, "order after a crash: \(again) for \(out)") }
                        return
                    }
                    log.published(usedIndex: used)
                    free += batch
                }
            }
            let again = log.recover(usedIndex: used, ringSize: ringSize)
            invariant(Set(again) == Set(out), "recovered \(again) for \(out)")
            if ordered { invariant(again == out, "recovery order \(again) for \(out)") }
        }
    }
}
