/// A violation of the split-virtqueue protocol by the driver, or a bad queue configuration.
///
/// Any of these puts the device in `DEVICE_NEEDS_RESET` (virtio 1.2 §2.1.2); the queue is
/// not used again until the driver resets the device.
import DeviceModel

public enum VirtqueueError: Error, Equatable, CustomStringConvertible {
    /// Queue size is zero, not a power of two, or above the device's maximum.
    case invalidSize(UInt16, maximum: UInt16)
    /// A ring address is not aligned as §2.7 requires.
    case misalignedRing(name: String, address: UInt64, alignment: UInt64)
    /// A ring does not lie entirely in guest RAM.
    case ringOutsideMemory(name: String, address: UInt64, length: Int)
    /// The driver's avail index moved further than the queue size past the device's position.
    case availIndexJump(from: UInt16, to: UInt16, size: UInt16)
    /// A head or `next` index is not below the table size.
    case descriptorIndexOutOfRange(index: UInt16, tableSize: Int)
    /// The chain has more descriptors than the queue (or indirect table) allows: a loop.
    case chainTooLong(head: UInt16, limit: Int)
    /// An indirect descriptor inside an indirect table (§2.7.5.3.1).
    case nestedIndirect(head: UInt16)
    /// `VIRTQ_DESC_F_INDIRECT` together with `VIRTQ_DESC_F_NEXT` (§2.7.5.3.1).
    case indirectWithNext(head: UInt16)
    /// Indirect descriptor used without `VIRTIO_F_INDIRECT_DESC` negotiated.
    case indirectNotNegotiated(head: UInt16)
    /// Indirect table length zero or not a multiple of 16.
    case invalidIndirectLength(head: UInt16, length: UInt32)
    /// A buffer's `addr + len` overflows.
    case bufferOverflow(address: UInt64, length: UInt32)
    /// A buffer lies (partly) outside guest RAM.
    case bufferOutsideMemory(address: UInt64, length: UInt32)
    /// A device-readable descriptor after a device-writable one (§2.7.4.2).
    case readableAfterWritable(head: UInt16)
    /// The sum of buffer lengths in one chain exceeds 4 GiB.
    case chainLengthOverflow(head: UInt16)
    /// The device returned a head that is not outstanding, or returned more than the ring holds.
    case invalidUsedHead(UInt16)
    /// A guest-memory access to the ring failed after configuration was accepted.
    case memory(GuestMemoryError)

    public var description: String {
        switch self {
        case .invalidSize(let s, let m): "queue size \(s) is not a power of two in 1...\(m)"
        case .misalignedRing(let n, let a, let al): "\(n) at 0x\(String(a, radix: 16)) is not \(al)-byte aligned"
        case .ringOutsideMemory(let n, let a, let l): "\(n) at 0x\(String(a, radix: 16))+\(l) is outside guest RAM"
        case .availIndexJump(let f, let t, let s): "avail index jumped from \(f) to \(t) (queue size \(s))"
        case .descriptorIndexOutOfRange(let i, let n): "descriptor index \(i) out of range (table has \(n))"
        case .chainTooLong(let h, let l): "descriptor chain at head \(h) exceeds \(l) descriptors (loop?)"
        case .nestedIndirect(let h): "nested indirect descriptor in chain at head \(h)"
        case .indirectWithNext(let h): "descriptor with both INDIRECT and NEXT in chain at head \(h)"
        case .indirectNotNegotiated(let h): "indirect descriptor without VIRTIO_F_INDIRECT_DESC at head \(h)"
        case .invalidIndirectLength(let h, let l): "indirect table length \(l) at head \(h) is not a non-zero multiple of 16"
        case .bufferOverflow(let a, let l): "buffer 0x\(String(a, radix: 16))+\(l) overflows"
        case .bufferOutsideMemory(let a, let l): "buffer 0x\(String(a, radix: 16))+\(l) is outside guest RAM"
        case .readableAfterWritable(let h): "device-readable descriptor after a device-writable one at head \(h)"
        case .chainLengthOverflow(let h): "total length of chain at head \(h) exceeds 4 GiB"
        case .invalidUsedHead(let h): "used head \(h) is not an outstanding chain"
        case .memory(let e): "ring access: \(e)"
        }
    }
}
