import DeviceModel
import FuzzSupport
import Virtio

/// Split-virtqueue chain walking (virtio 1.2 §2.7) over guest memory the input fills:
/// descriptor tables, indirect tables, avail ring and loops are all the driver's to corrupt.
///
/// Invariants beyond "no crash": every buffer of a popped chain lies inside guest RAM; a
/// chain has at most `size` direct descriptors (or `maxIndirectEntries` in one indirect
/// table); popping writes nothing to guest memory except `avail_event` in the used ring; a
/// rejected chain leaves guest memory untouched; a completion writes exactly one used
/// element whose length is what the device reported (never more than it could write).
@main
struct SplitVirtqueueFuzz {
    static let ramBase: UInt64 = 0
    static let ramSize = 16 << 10

    static func main() {
        // One RAM for all runs: mapping per input would dominate the run time.
        guard let memory = try? MappedGuestMemory.anonymous([(guestBase: ramBase, length: UInt64(ramSize))]) else {
            fuzzFailure("cannot map fuzz guest RAM")
        }
        let ram = memory.regions[0].host
        FuzzDriver.run { data in
            var input = FuzzInput(data)
            // Header: ring size, layout, features, then the RAM image.
            let size = UInt16(1) << (input.u8() % 9)  // 1...256
            let eventIndex = input.u8() & 1 != 0
            let indirect = input.u8() & 1 != 0
            let descriptorTable = UInt64(input.u16()) & ~15
            let availRing = UInt64(input.u16()) & ~1
            let usedRing = UInt64(input.u16()) & ~3
            let nextAvail = input.u16()
            // Fill RAM: the input's rest, repeated so that short inputs still describe rings.
            let image = input.rest()
            ram.initializeMemory(as: UInt8.self, repeating: 0, count: ramSize)
            if !image.isEmpty {
                for i in 0..<ramSize { ram.storeBytes(of: image[i % image.count], toByteOffset: i, as: UInt8.self) }
            }
            let layout = VirtqueueLayout(size: size, descriptorTable: descriptorTable, availRing: availRing, usedRing: usedRing)
            guard let queue = try? SplitVirtqueue(memory: memory, layout: layout, eventIndex: eventIndex,
                                                  indirectDescriptors: indirect, nextAvail: nextAvail) else { return }
            let availEvent = usedRing + 4 + 8 * UInt64(size)
            // Without a separate used position, the device starts its used index at nextAvail.
            var expectedUsed = nextAvail
            for round in 0..<min(Int(size), 8) + 2 {
                let before = snapshot(ram)
                let chain: DescriptorChain?
                do { chain = try queue.popAvailable() } catch {
                    // Rejected: nothing written, not even avail_event.
                    invariant(snapshot(ram) == before, "a rejected chain changed guest memory")
                    return
                }
                let after = snapshot(ram)
                for i in 0..<ramSize where before[i] != after[i] {
                    invariant(eventIndex && UInt64(i) >= availEvent && UInt64(i) < availEvent + 2,
                                 "popping wrote guest memory at 0x\(String(i, radix: 16))")
                }
                guard let chain else { return }
                let buffers = chain.readable + chain.writable
                invariant(buffers.count <= max(Int(size), SplitVirtqueue.maxIndirectEntries), "chain longer than any table")
                // Every byte a chain covers is guest RAM (a zero-length buffer covers none).
                for b in buffers where b.length > 0 {
                    invariant(b.address >= ramBase && b.address + UInt64(b.length) <= ramBase + UInt64(ramSize),
                                 "buffer 0x\(String(b.address, radix: 16))+\(b.length) outside guest RAM")
                }
                // Complete it with a length the device could have written.
                let written = UInt32(min(chain.writableLength, Int(UInt32(round) &* 7)))
                do { try queue.pushUsed(head: chain.head, bytesWritten: written) } catch { return }
                expectedUsed &+= 1
                let usedIndex = (try? memory.read(UInt16.self, at: usedRing + 2)) ?? 0
                invariant(usedIndex == expectedUsed, "one completion must advance used.idx by one")
                let slot = usedRing + 4 + 8 * UInt64((expectedUsed &- 1) % size)
                let id = try? memory.read(UInt32.self, at: slot)
                let length = try? memory.read(UInt32.self, at: slot + 4)
                invariant(id == UInt32(chain.head) && length == written, "used element differs from the completion")
            }
        }
    }

    static func snapshot(_ ram: UnsafeMutableRawPointer) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: ram, count: ramSize))
    }
}
