import DeviceModel

/// One descriptor as the driver writes it into a table (§2.7.5).
public struct VirtioTestDescriptor: Sendable, Hashable {
    /// Guest-physical address (`addr`).
    public var address: UInt64
    /// Length in bytes (`len`).
    public var length: UInt32
    /// `VIRTQ_DESC_F_*` (see ``VirtioTestSpec/DescriptorFlag``).
    public var flags: UInt16
    /// The next descriptor when `NEXT` is set.
    public var next: UInt16

    /// A descriptor with the given fields.
    public init(address: UInt64, length: UInt32, flags: UInt16 = 0, next: UInt16 = 0) {
        self.address = address
        self.length = length
        self.flags = flags
        self.next = next
    }
}

/// A buffer of a request: guest address, length and direction.
public struct VirtioTestBuffer: Sendable, Hashable {
    /// Guest-physical address (`addr`).
    public var address: UInt64
    /// Length in bytes (`len`).
    public var length: UInt32
    /// Device-writable (`VIRTQ_DESC_F_WRITE`).
    public var writable: Bool

    /// A buffer of `length` bytes at `address`.
    public init(address: UInt64, length: UInt32, writable: Bool) {
        self.address = address
        self.length = length
        self.writable = writable
    }
}

/// A request the driver made available.
public struct VirtioTestRequest: Sendable, Hashable {
    /// The head descriptor index (the used element's `id`).
    public let head: UInt16
    /// The buffers in chain order (readable first).
    public let buffers: [VirtioTestBuffer]
    /// Whether the chain went through an indirect table.
    public let indirect: Bool
}

/// A used element the driver collected, with the bytes the device wrote.
public struct VirtioTestCompletion: Sendable, Hashable {
    /// The request the device completed.
    public let request: VirtioTestRequest
    /// The used element's `len`: bytes the device reports having written.
    public let length: UInt32
    /// The first `length` bytes of the writable buffers, concatenated (capped at their size).
    public let written: [UInt8]
}

/// The driver side of one split virtqueue in guest RAM, built as Linux's `virtio_ring.c`
/// does: a free list threaded through the descriptors, direct or indirect chains, the avail
/// index published with release ordering, `used_event`/`avail_event` with `EVENT_IDX`.
///
/// The `raw…` methods write arbitrary ring contents for malicious-driver tests; they do no
/// bookkeeping and leave the queue unusable for normal requests afterwards.
public final class VirtioTestQueue {
    /// The queue index.
    public let index: Int
    /// The queue size (descriptors).
    public let size: UInt16
    /// Where the rings are in guest RAM.
    public let placement: VirtioTestRingPlacement
    /// Whether `VIRTIO_F_EVENT_IDX` was negotiated.
    public let eventIndex: Bool
    /// Whether `VIRTIO_F_INDIRECT_DESC` was negotiated.
    public let indirectDescriptors: Bool
    /// Guest RAM.
    public let memory: any GuestMemory
    let arena: VirtioTestArena

    private struct InFlight {
        var request: VirtioTestRequest
        var descriptors: Int
        var allocations: [UInt64]
    }
    // Next links of the descriptors: the free list and the chains (Linux's desc_extra.next).
    private var next: [UInt16]
    private var freeHead: UInt16 = 0
    /// Descriptors not in use.
    public private(set) var freeCount: Int
    private var inFlight: [UInt16: InFlight] = [:]
    /// The driver's avail index (the last value published).
    public private(set) var availIndex: UInt16 = 0
    private var addedSinceKick: UInt16 = 0
    /// The next used element the driver will read.
    public private(set) var lastUsedIndex: UInt16 = 0
    private var interruptsEnabled = true

    init(index: Int, placement: VirtioTestRingPlacement, eventIndex: Bool, indirectDescriptors: Bool,
         memory: any GuestMemory, arena: VirtioTestArena) {
        self.index = index
        self.size = UInt16(truncatingIfNeeded: placement.size)
        self.placement = placement
        self.eventIndex = eventIndex
        self.indirectDescriptors = indirectDescriptors
        self.memory = memory
        self.arena = arena
        self.next = (0..<Int(size)).map { UInt16(truncatingIfNeeded: $0 + 1) }
        self.freeCount = Int(size)
    }

    /// Requests made available and not yet collected.
    public var inFlightCount: Int { inFlight.count }

    // MARK: Requests

    /// Makes a request of caller-placed buffers available: a direct chain, or one indirect
    /// descriptor pointing at a table allocated from the arena (`virtqueue_add_split`).
    /// Readable buffers must come before writable ones. Call ``VirtioTestDriver/kick(_:)``
    /// afterwards.
    @discardableResult
    public func submit(_ buffers: [VirtioTestBuffer], indirect: Bool = false) throws(VirtioTestDriverError) -> VirtioTestRequest {
        try submit(buffers, indirect: indirect, allocations: [])
    }

    /// Allocates buffers from the arena — one per element of `readable` (filled with it) and
    /// one per length in `writable` (zeroed) — and makes them available as one request.
    /// The buffers are freed when the completion is collected.
    @discardableResult
    public func submit(readable: [[UInt8]] = [], writable: [Int] = [], indirect: Bool = false) throws(VirtioTestDriverError) -> VirtioTestRequest {
        var allocations: [UInt64] = []
        var buffers: [VirtioTestBuffer] = []
        do throws(VirtioTestDriverError) {
            for bytes in readable {
                let a = try arena.allocate(bytes.count)
                allocations.append(a)
                do { try memory.writeBytes(bytes, at: a) } catch { throw .memory(error) }
                buffers.append(VirtioTestBuffer(address: a, length: UInt32(bytes.count), writable: false))
            }
            for length in writable {
                let a = try arena.allocate(length)
                allocations.append(a)
                do { try memory.fill(0, at: a, length: length) } catch { throw .memory(error) }
                buffers.append(VirtioTestBuffer(address: a, length: UInt32(length), writable: true))
            }
            return try submit(buffers, indirect: indirect, allocations: allocations)
        } catch {
            for a in allocations { arena.release(a) }
            throw error
        }
    }

    private func submit(_ buffers: [VirtioTestBuffer], indirect: Bool, allocations: [UInt64]) throws(VirtioTestDriverError) -> VirtioTestRequest {
        precondition(!buffers.isEmpty, "a request needs at least one buffer")
        var owned = allocations
        let head = freeHead
        let used: Int
        if indirect {
            guard freeCount >= 1 else { throw .queueFull(queue: index, needed: 1, free: freeCount) }
            let table = try arena.allocate(16 * buffers.count, alignment: 16)
            owned.append(table)
            for (i, b) in buffers.enumerated() {
                let last = i == buffers.count - 1
                let flags = (last ? 0 : VirtioTestSpec.DescriptorFlag.next) | (b.writable ? VirtioTestSpec.DescriptorFlag.write : 0)
                try writeDescriptor(at: table + 16 * UInt64(i),
                                    VirtioTestDescriptor(address: b.address, length: b.length, flags: flags,
                                                         next: last ? 0 : UInt16(i + 1)))
            }
            try writeDescriptor(at: descriptorAddress(head),
                                VirtioTestDescriptor(address: table, length: UInt32(16 * buffers.count),
                                                     flags: VirtioTestSpec.DescriptorFlag.indirect, next: next[Int(head)]))
            freeHead = next[Int(head)]
            used = 1
        } else {
            guard freeCount >= buffers.count else { throw .queueFull(queue: index, needed: buffers.count, free: freeCount) }
            var i = head
            for (k, b) in buffers.enumerated() {
                let last = k == buffers.count - 1
                let flags = (last ? 0 : VirtioTestSpec.DescriptorFlag.next) | (b.writable ? VirtioTestSpec.DescriptorFlag.write : 0)
                try writeDescriptor(at: descriptorAddress(i),
                                    VirtioTestDescriptor(address: b.address, length: b.length, flags: flags, next: next[Int(i)]))
                if !last { i = next[Int(i)] }
            }
            freeHead = next[Int(i)]
            used = buffers.count
        }
        freeCount -= used
        let request = VirtioTestRequest(head: head, buffers: buffers, indirect: indirect)
        inFlight[head] = InFlight(request: request, descriptors: used, allocations: owned)
        try publish(head: head)
        return request
    }

    private func publish(head: UInt16) throws(VirtioTestDriverError) {
        try write(head, at: placement.availRing + 4 + 2 * UInt64(availIndex % size))
        availIndex &+= 1
        addedSinceKick &+= 1
        // The ring entry is visible before the index that publishes it (§2.7.13).
        do { try memory.storeRelease(availIndex, at: placement.availRing + 2) } catch { throw .memory(error) }
    }

    /// `virtqueue_kick_prepare`: whether the device wants a notification for the entries
    /// added since the last call (`avail_event` with EVENT_IDX, else `VIRTQ_USED_F_NO_NOTIFY`).
    public func kickNeeded() throws(VirtioTestDriverError) -> Bool {
        MemoryBarrier.full()
        let new = availIndex
        let old = availIndex &- addedSinceKick
        addedSinceKick = 0
        if eventIndex {
            let event: UInt16 = try read(at: placement.usedRing + 4 + 8 * UInt64(size))
            return (new &- event &- 1) < (new &- old)
        }
        let flags: UInt16 = try read(at: placement.usedRing)
        return flags & VirtioTestSpec.usedNoNotify == 0
    }

    /// Collects all used elements the device published (`virtqueue_get_buf`), frees their
    /// descriptors and arena buffers, and — with interrupts enabled and EVENT_IDX — asks for
    /// an interrupt at the next used element (`used_event = last_used_idx`).
    public func takeUsed() throws(VirtioTestDriverError) -> [VirtioTestCompletion] {
        let usedIndex: UInt16
        do { usedIndex = try memory.loadAcquire(UInt16.self, at: placement.usedRing + 2) } catch { throw .memory(error) }
        guard usedIndex &- lastUsedIndex <= size else {
            throw .usedIndexJump(queue: index, from: lastUsedIndex, to: usedIndex)
        }
        var out: [VirtioTestCompletion] = []
        while lastUsedIndex != usedIndex {
            let slot = placement.usedRing + 4 + 8 * UInt64(lastUsedIndex % size)
            let id: UInt32 = try read(at: slot)
            let length: UInt32 = try read(at: slot + 4)
            guard id < UInt32(size), let f = inFlight.removeValue(forKey: UInt16(id)) else {
                throw .unexpectedUsedHead(queue: index, head: id)
            }
            var written: [UInt8] = []
            var left = Int(length)
            for b in f.request.buffers where b.writable && left > 0 {
                let n = min(left, Int(b.length))
                do { written += try memory.readBytes(at: b.address, count: n) } catch { throw .memory(error) }
                left -= n
            }
            // Return the chain to the free list (detach_buf_split).
            var last = f.request.head
            for _ in 1..<f.descriptors { last = next[Int(last)] }
            next[Int(last)] = freeHead
            freeHead = f.request.head
            freeCount += f.descriptors
            for a in f.allocations { arena.release(a) }
            lastUsedIndex &+= 1
            out.append(VirtioTestCompletion(request: f.request, length: length, written: written))
        }
        if eventIndex && interruptsEnabled {
            try write(lastUsedIndex, at: usedEventAddress)
            MemoryBarrier.full()
        }
        return out
    }

    /// Asks the device not to interrupt (`virtqueue_disable_cb`): `VIRTQ_AVAIL_F_NO_INTERRUPT`
    /// without EVENT_IDX; with it, `used_event` simply stops advancing.
    public func disableInterrupts() throws(VirtioTestDriverError) {
        interruptsEnabled = false
        if !eventIndex { try write(VirtioTestSpec.availNoInterrupt, at: placement.availRing) }
    }

    /// Re-enables interrupts (`virtqueue_enable_cb`).
    public func enableInterrupts() throws(VirtioTestDriverError) {
        interruptsEnabled = true
        if eventIndex {
            try write(lastUsedIndex, at: usedEventAddress)
        } else {
            try write(UInt16(0), at: placement.availRing)
        }
        MemoryBarrier.full()
    }

    /// Sets `used_event` (EVENT_IDX): the device interrupts when `used.idx` passes it.
    /// Also stops ``takeUsed()`` from moving it, until ``enableInterrupts()``.
    public func setUsedEvent(_ value: UInt16) throws(VirtioTestDriverError) {
        interruptsEnabled = false
        try write(value, at: usedEventAddress)
        MemoryBarrier.full()
    }

    /// The device's `avail_event` (EVENT_IDX).
    public func availEvent() throws(VirtioTestDriverError) -> UInt16 {
        try read(at: placement.usedRing + 4 + 8 * UInt64(size))
    }

    /// The device's `used.idx`.
    public func usedIndex() throws(VirtioTestDriverError) -> UInt16 {
        do { return try memory.loadAcquire(UInt16.self, at: placement.usedRing + 2) } catch { throw .memory(error) }
    }

    /// The device's used-ring flags (`VIRTQ_USED_F_NO_NOTIFY`).
    public func usedFlags() throws(VirtioTestDriverError) -> UInt16 { try read(at: placement.usedRing) }

    private var usedEventAddress: UInt64 { placement.availRing + 4 + 2 * UInt64(size) }

    // MARK: Raw ring access (malicious drivers)

    /// The guest address of descriptor `index` in the queue's table.
    public func descriptorAddress(_ index: UInt16) -> UInt64 { placement.descriptorTable + 16 * UInt64(index) }

    /// Writes a descriptor at any guest address (the queue's table or an indirect table).
    public func writeDescriptor(at address: UInt64, _ d: VirtioTestDescriptor) throws(VirtioTestDriverError) {
        try write(d.address, at: address)
        try write(d.length, at: address + 8)
        try write(d.flags, at: address + 12)
        try write(d.next, at: address + 14)
    }

    /// Writes descriptor `index` of the queue's table, unchecked.
    public func rawWriteDescriptor(_ index: UInt16, _ d: VirtioTestDescriptor) throws(VirtioTestDriverError) {
        try writeDescriptor(at: descriptorAddress(index), d)
    }

    /// Puts `head` (any value) in the next avail slot and publishes the index, unchecked.
    public func rawPublish(head: UInt16) throws(VirtioTestDriverError) {
        try publish(head: head)
    }

    /// Sets `avail.idx` to any value without adding entries.
    public func rawSetAvailIndex(_ value: UInt16) throws(VirtioTestDriverError) {
        availIndex = value
        do { try memory.storeRelease(value, at: placement.availRing + 2) } catch { throw .memory(error) }
    }

    // MARK: Memory helpers

    private func read<T: FixedWidthInteger>(at gpa: UInt64) throws(VirtioTestDriverError) -> T {
        do { return try memory.read(T.self, at: gpa) } catch { throw .memory(error) }
    }

    private func write<T: FixedWidthInteger>(_ value: T, at gpa: UInt64) throws(VirtioTestDriverError) {
        do { try memory.write(value, at: gpa) } catch { throw .memory(error) }
    }
}
