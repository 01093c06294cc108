import CDeviceModelShims
import DeviceModel
#if canImport(Glibc)
import Glibc
#endif

/// The driver side of one split virtqueue (virtio 1.2 §2.7) in ``SharedGuestMemory``: what a
/// guest's virtio driver does, reduced to what a load generator needs — fill descriptors,
/// make heads available, kick, and read the used ring.
///
/// Layout at `gpa`: the descriptor table (16 bytes per entry), the available ring and the
/// used ring, each starting on its own 4 KiB page so the alignment rules of §2.7 hold for any
/// ring size. Indices are published with release stores and read with acquire loads (the
/// backend runs in another process on another CPU).
///
/// Not thread-safe: one thread drives one ring, as one vCPU's driver would.
public final class SplitRingDriver {
    /// `VIRTQ_DESC_F_NEXT`.
    public static let flagNext: UInt16 = 1
    /// `VIRTQ_DESC_F_WRITE`: the device writes this buffer.
    public static let flagWrite: UInt16 = 2
    /// `VIRTQ_USED_F_NO_NOTIFY`: the device does not want kicks (without EVENT_IDX).
    static let usedFlagNoNotify: UInt16 = 1

    /// Entries in the ring (a power of two).
    public let size: UInt16
    /// Guest-physical addresses of the three parts.
    public let descriptorTable: Int, availRing: Int, usedRing: Int
    /// The device's kick (driver → device) and call (device → driver) eventfds.
    public let kick: EventNotifier
    /// The call eventfd the backend signals (see ``waitForCall(timeoutMs:)``).
    public let call: EventNotifier
    /// `VIRTIO_F_EVENT_IDX` was negotiated: notifications both ways follow the event indices.
    public let eventIndex: Bool

    private let memory: SharedGuestMemory
    /// The next avail index to publish (the driver's shadow copy of `avail->idx`).
    private var availShadow: UInt16 = 0
    /// The avail index the device was last told about (kicked or seen without a kick).
    private var availPublished: UInt16 = 0
    /// The next used entry to read.
    public private(set) var lastSeenUsed: UInt16 = 0

    /// Bytes one ring of `size` entries occupies in guest memory.
    public static func footprint(size: UInt16) -> Int {
        let n = Int(size)
        return pageRound(16 * n) + pageRound(6 + 2 * n) + pageRound(6 + 8 * n)
    }

    private static func pageRound(_ n: Int) -> Int { (n + 4095) / 4096 * 4096 }

    /// A ring of `size` entries at `gpa` (page-aligned), zeroed.
    public init(memory: SharedGuestMemory, at gpa: Int, size: UInt16, eventIndex: Bool) throws(StorageBenchError) {
        guard size > 0, size & (size - 1) == 0, size <= 32768 else {
            throw .badParameter("ring size \(size) is not a power of two up to 32768")
        }
        guard gpa >= 0, gpa % 4096 == 0, gpa + Self.footprint(size: size) <= memory.size else {
            throw .badParameter("ring at 0x\(String(gpa, radix: 16)) does not fit \(memory.size) bytes of guest memory")
        }
        self.memory = memory
        self.size = size
        self.eventIndex = eventIndex
        descriptorTable = gpa
        availRing = gpa + Self.pageRound(16 * Int(size))
        usedRing = availRing + Self.pageRound(6 + 2 * Int(size))
        memset(memory.base + gpa, 0, Self.footprint(size: size))
        do {
            kick = try EventNotifier()
            call = try EventNotifier()
        } catch {
            throw .system(call: "eventfd", errno: error.errno)
        }
    }

    // MARK: Descriptors and the available ring

    /// Writes descriptor `index`. Callers lay their chains out once and reuse them, so this is
    /// off the hot path.
    public func setDescriptor(_ index: UInt16, address: UInt64, length: UInt32, flags: UInt16, next: UInt16) {
        let p = memory.base + descriptorTable + 16 * Int(index & (size - 1))
        p.storeBytes(of: address.littleEndian, as: UInt64.self)
        p.storeBytes(of: length.littleEndian, toByteOffset: 8, as: UInt32.self)
        p.storeBytes(of: flags.littleEndian, toByteOffset: 12, as: UInt16.self)
        p.storeBytes(of: next.littleEndian, toByteOffset: 14, as: UInt16.self)
    }

    /// Puts chain `head` in the next avail slot; the device sees it after ``publish()``.
    @inline(__always)
    public func push(head: UInt16) {
        let slot = Int(availShadow & (size - 1))
        (memory.base + availRing + 4 + 2 * slot).storeBytes(of: head.littleEndian, as: UInt16.self)
        availShadow &+= 1
    }

    /// Entries pushed and not yet published.
    public var unpublished: Int { Int(availShadow &- availPublished) }

    /// Publishes every pushed head (`avail->idx`, release) and kicks the device unless it
    /// said it does not need one (§2.7.10: `avail_event` with EVENT_IDX, else the used ring's
    /// `NO_NOTIFY` flag).
    public func publishAndKick() throws(StorageBenchError) {
        let old = availPublished
        let new = availShadow
        guard old != new else { return }
        swiftdm_store_release_u16(memory.base + availRing + 2, new.littleEndian)
        availPublished = new
        // The index store must be visible before the device's notification suppression is
        // read, or both sides can decide the other will act (the classic lost kick).
        swiftdm_fence_seq_cst()
        let needKick: Bool
        if eventIndex {
            let availEvent = UInt16(littleEndian: (memory.base + usedRing + 4 + 8 * Int(size)).load(as: UInt16.self))
            needKick = new &- availEvent &- 1 < new &- old
        } else {
            let flags = UInt16(littleEndian: (memory.base + usedRing).load(as: UInt16.self))
            needKick = flags & Self.usedFlagNoNotify == 0
        }
        if needKick {
            do { try kick.signal() } catch { throw .system(call: "write(kick eventfd)", errno: error.errno) }
        }
    }

    // MARK: The used ring

    /// The used index as the device last published it (acquire: the entries and the buffers
    /// they name are visible once the index is).
    @inline(__always)
    public var deviceUsedIndex: UInt16 {
        UInt16(littleEndian: swiftdm_load_acquire_u16(memory.base + usedRing + 2))
    }

    /// The next used element, or `nil` when the device has returned nothing new.
    @inline(__always)
    public func nextUsed() -> (id: UInt32, length: UInt32)? {
        guard lastSeenUsed != deviceUsedIndex else { return nil }
        let p = memory.base + usedRing + 4 + 8 * Int(lastSeenUsed & (size - 1))
        lastSeenUsed &+= 1
        return (UInt32(littleEndian: p.load(as: UInt32.self)),
                UInt32(littleEndian: p.load(fromByteOffset: 4, as: UInt32.self)))
    }

    /// Asks for an interrupt on the next completion and reports whether one is already
    /// there (then the caller must not sleep). With EVENT_IDX that is `used_event` set to the
    /// next entry; without it interrupts are always on (`avail->flags` stays 0).
    public func armInterrupt() -> Bool {
        if eventIndex {
            (memory.base + availRing + 4 + 2 * Int(size)).storeBytes(of: lastSeenUsed.littleEndian, as: UInt16.self)
        } else {
            (memory.base + availRing).storeBytes(of: UInt16(0), as: UInt16.self)
        }
        // The used_event store must be visible before the used index is re-read, or a
        // completion landing in between is never signalled.
        swiftdm_fence_seq_cst()
        return lastSeenUsed != deviceUsedIndex
    }

    /// Tells the device not to signal completions, for a driver that polls the used ring
    /// (Linux's virtio-blk poll queues): `VRING_AVAIL_F_NO_INTERRUPT`, or with EVENT_IDX a
    /// `used_event` just behind the used index, which the device passes again only after
    /// 65535 more completions.
    public func suppressInterrupts() {
        if eventIndex {
            (memory.base + availRing + 4 + 2 * Int(size)).storeBytes(of: (lastSeenUsed &- 1).littleEndian, as: UInt16.self)
        } else {
            (memory.base + availRing).storeBytes(of: Self.availFlagNoInterrupt.littleEndian, as: UInt16.self)
        }
        swiftdm_fence_seq_cst()
    }

    /// `VRING_AVAIL_F_NO_INTERRUPT`.
    static let availFlagNoInterrupt: UInt16 = 1

    /// Waits up to `timeoutMs` for the call eventfd (and drains it); false on timeout.
    /// `poll(2)`, `eventfd_read`.
    public func waitForCall(timeoutMs: Int32) -> Bool {
        call.wait(timeoutMs: timeoutMs) > 0
    }
}
