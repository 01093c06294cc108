import DeviceModel

/// The guest-physical placement and size of a split virtqueue, as the driver configured it.
public struct VirtqueueLayout: Sendable, Hashable {
    public var size: UInt16
    public var descriptorTable: UInt64
    public var availRing: UInt64
    public var usedRing: UInt64

    public init(size: UInt16, descriptorTable: UInt64, availRing: UInt64, usedRing: UInt64) {
        self.size = size
        self.descriptorTable = descriptorTable
        self.availRing = availRing
        self.usedRing = usedRing
    }

    /// The legacy layout (virtio 0.9.5 / §2.7.2 "Legacy Interfaces"): one contiguous area at
    /// `base`, the used ring aligned to `alignment` (4096 for legacy PCI).
    public static func legacy(size: UInt16, base: UInt64, alignment: UInt64 = 4096) -> VirtqueueLayout {
        let n = UInt64(size)
        let avail = base &+ 16 &* n
        let availEnd = avail &+ 6 &+ 2 &* n
        let used = (availEnd &+ alignment &- 1) / alignment &* alignment
        return VirtqueueLayout(size: size, descriptorTable: base, availRing: avail, usedRing: used)
    }

    var descriptorTableLength: Int { 16 * Int(size) }
    var availRingLength: Int { 6 + 2 * Int(size) }   // flags, idx, ring[], used_event
    var usedRingLength: Int { 6 + 8 * Int(size) }    // flags, idx, ring[], avail_event
}

/// A split virtqueue (virtio 1.2 §2.7) seen from the device side.
///
/// It validates everything the driver controls as it walks: ring placement at creation,
/// avail-index movement, descriptor indices, chain length (loops), indirect tables and
/// buffer ranges. Any violation throws ``VirtqueueError``; the device must then stop
/// using the queue and report `DEVICE_NEEDS_RESET`.
///
/// Threading: a queue is owned by one thread at a time (the device's I/O thread once
/// activated); it holds no lock.
public final class SplitVirtqueue: @unchecked Sendable {
    // SAFETY (@unchecked): single-owner by contract (see type docs); ownership moves from
    // the transport to the device's thread at activation, with a happens-before edge
    // provided by the event loop hand-off.
    public let layout: VirtqueueLayout
    public let memory: any GuestMemory
    public let eventIndex: Bool
    public let indirectAllowed: Bool
    /// Refuse device-readable descriptors after device-writable ones (§2.7.4.2). On by default.
    public var requireReadableFirst = true

    /// The next avail ring slot the device will consume (`last_avail_idx`).
    public private(set) var nextAvail: UInt16
    /// False between ``disableNotifications()`` and ``enableNotifications()``.
    private var kicksWanted = true
    /// The next used ring slot the device will fill; also the published `used.idx`.
    public private(set) var nextUsed: UInt16
    // Used index at the last interrupt decision (EVENT_IDX bookkeeping, §2.7.10).
    private var signalledUsed: UInt16
    private var signalledUsedValid = false
    /// Where taken and returned heads are recorded, if a transport keeps such a record.
    private var inflightLog: (any VirtqueueInflightLog)?
    /// Heads a previous run of the device took and never returned, handed out again before
    /// anything new from the available ring; `resubmitNext` is the next one to hand out.
    private var resubmit: [UInt16] = []
    private var resubmitNext = 0
    /// The chain ``popAvailable()`` returned last: its buffer lists are the next one's storage.
    private var lastPopped = DescriptorChain()

    /// Largest indirect table accepted (QEMU's `VIRTQUEUE_MAX_SIZE`).
    public static let maxIndirectEntries = 1024

    /// VIRTQ_DESC_F_*
    static let flagNext: UInt16 = 1
    static let flagWrite: UInt16 = 2
    static let flagIndirect: UInt16 = 4
    /// VIRTQ_USED_F_NO_NOTIFY / VIRTQ_AVAIL_F_NO_INTERRUPT
    static let usedNoNotify: UInt16 = 1
    static let availNoInterrupt: UInt16 = 1

    /// Validates `layout` against `maxSize` and guest RAM (§2.7: descriptor table 16-byte,
    /// avail 2-byte, used 4-byte aligned) and creates the queue.
    /// `nextAvail`/`nextUsed` restore a position (vhost-user `SET_VRING_BASE`).
    public init(memory: any GuestMemory, layout: VirtqueueLayout, maxSize: UInt16 = 32768,
                eventIndex: Bool, indirectDescriptors: Bool,
                nextAvail: UInt16 = 0, nextUsed: UInt16? = nil) throws(VirtqueueError) {
        let size = layout.size
        guard size > 0, size <= maxSize, size & (size - 1) == 0 else {
            throw .invalidSize(size, maximum: maxSize)
        }
        for (name, address, alignment, length) in [
            ("descriptor table", layout.descriptorTable, UInt64(16), layout.descriptorTableLength),
            ("avail ring", layout.availRing, UInt64(2), layout.availRingLength),
            ("used ring", layout.usedRing, UInt64(4), layout.usedRingLength),
        ] {
            guard address % alignment == 0 else { throw .misalignedRing(name: name, address: address, alignment: alignment) }
            guard memory.contains(address, length: length) else {
                throw .ringOutsideMemory(name: name, address: address, length: length)
            }
        }
        self.layout = layout
        self.memory = memory
        self.eventIndex = eventIndex
        self.indirectAllowed = indirectDescriptors
        self.nextAvail = nextAvail
        self.nextUsed = nextUsed ?? nextAvail
        self.signalledUsed = self.nextUsed
    }

    public var size: UInt16 { layout.size }

    /// Records taken and returned heads in `log` from now on, and hands out `heads` (taken by
    /// a previous run of the device and never returned) before any new available chain.
    ///
    /// `heads` are not counted in the avail position: the caller sets ``nextAvail`` past
    /// them when it creates the queue (a chain taken and not returned was popped). Heads
    /// outside the table are refused when they are popped, as a bad avail entry would be.
    /// Call before the queue is handed to its device.
    public func trackInflight(_ log: any VirtqueueInflightLog, resubmitting heads: [UInt16] = []) {
        inflightLog = log
        resubmit = heads
        resubmitNext = 0
    }

    /// Heads still to be resubmitted (see ``trackInflight(_:resubmitting:)``).
    public var pendingResubmissions: Int { resubmit.count - resubmitNext }

    // MARK: Available ring (driver → device)

    private func loadAvailIndex() throws(VirtqueueError) -> UInt16 {
        do { return try memory.loadAcquire(UInt16.self, at: layout.availRing + 2) } catch { throw .memory(error) }
    }

    /// Number of chains the driver has made available and the device has not popped
    /// (including heads waiting to be resubmitted).
    public func availableCount() throws(VirtqueueError) -> UInt16 {
        let availIndex = try loadAvailIndex()
        let pending = availIndex &- nextAvail
        // A driver can never have more than `size` entries outstanding (§2.7.6).
        guard pending <= size else { throw .availIndexJump(from: nextAvail, to: availIndex, size: size) }
        return UInt16(clamping: Int(pending) + pendingResubmissions)
    }

    /// Pops and validates the next available chain; `nil` when the ring is empty. Heads to
    /// resubmit come first (they are already recorded as taken).
    ///
    /// The chain's buffer lists reuse the storage of the chain this returned last time, so
    /// a caller that drops each chain before popping the next allocates nothing; one that
    /// keeps chains gets copies (``popAvailable(into:)`` gives each its own storage).
    public func popAvailable() throws(VirtqueueError) -> DescriptorChain? {
        var chain = DescriptorChain()
        swap(&chain, &lastPopped)
        defer { lastPopped = chain }
        guard try popAvailable(into: &chain) else { return nil }
        return chain
    }

    /// Pops and validates the next available chain into `chain`, refilling its buffer
    /// lists in place (no allocation once they have grown to the chain's length, as long
    /// as no copy of `chain` is held elsewhere); `false` when the ring is empty (then
    /// `chain` is left as it was). After a throw, `chain` holds no valid chain.
    public func popAvailable(into chain: inout DescriptorChain) throws(VirtqueueError) -> Bool {
        if resubmitNext < resubmit.count {
            let head = resubmit[resubmitNext]
            resubmitNext += 1
            if resubmitNext == resubmit.count {
                resubmit = []
                resubmitNext = 0
            }
            try walkChain(head: head, into: &chain)
            return true
        }
        guard try availableCount() > 0 else { return false }
        // The acquire load of avail.idx orders the ring entry read after it.
        let slot = layout.availRing + 4 + 2 * UInt64(nextAvail % size)
        let head: UInt16 = try guestRead(UInt16.self, at: slot)
        try walkChain(head: head, into: &chain)
        // Recorded before the position moves: a chain is counted as popped exactly when the
        // log holds it (a restarted device derives its avail position from both).
        inflightLog?.headTaken(head)
        nextAvail &+= 1
        if eventIndex && kicksWanted {
            // Keep avail_event current so the driver kicks only for entries we haven't seen
            // (not while notifications are disabled: then the driver need not kick at all).
            try publishAvailEvent()
        }
        return true
    }

    private struct RawDescriptor {
        var address: UInt64
        var length: UInt32
        var flags: UInt16
        var next: UInt16
    }

    private func readDescriptor(tableBase: UInt64, index: UInt16) throws(VirtqueueError) -> RawDescriptor {
        var raw = (UInt64(0), UInt64(0))
        let gpa = tableBase + 16 * UInt64(index)
        do {
            try withUnsafeMutableBytes(of: &raw) { (p: UnsafeMutableRawBufferPointer) throws(GuestMemoryError) in try memory.read(into: p, from: gpa) }
        } catch { throw .memory(error) }
        let hi = UInt64(littleEndian: raw.1)
        return RawDescriptor(address: UInt64(littleEndian: raw.0), length: UInt32(truncatingIfNeeded: hi),
                             flags: UInt16(truncatingIfNeeded: hi >> 32), next: UInt16(truncatingIfNeeded: hi >> 48))
    }

    private func walkChain(head: UInt16, into chain: inout DescriptorChain) throws(VirtqueueError) {
        guard head < size else { throw .descriptorIndexOutOfRange(index: head, tableSize: Int(size)) }
        chain.reset(head: head)
        var total: UInt64 = 0
        // A direct chain is bounded by the queue size (§2.7.5.3.1), an indirect one by its
        // table's entry count: either bound stops a looping `next` chain.
        var budget = Int(size)
        var tableBase = layout.descriptorTable
        var tableSize = Int(size)
        var inIndirect = false
        var index = head

        while true {
            guard Int(index) < tableSize else { throw .descriptorIndexOutOfRange(index: index, tableSize: tableSize) }
            guard budget > 0 else { throw .chainTooLong(head: head, limit: Int(size)) }
            budget -= 1
            let d = try readDescriptor(tableBase: tableBase, index: index)

            if d.flags & Self.flagIndirect != 0 {
                guard indirectAllowed else { throw .indirectNotNegotiated(head: head) }
                guard !inIndirect else { throw .nestedIndirect(head: head) }
                guard d.flags & Self.flagNext == 0 else { throw .indirectWithNext(head: head) }
                guard d.length > 0, d.length % 16 == 0 else { throw .invalidIndirectLength(head: head, length: d.length) }
                let entries = Int(d.length / 16)
                // Linux sizes indirect tables by the device's seg_max, not the ring size (a
                // vhost-user frontend may pick a ring smaller than the device assumed), so
                // accept tables up to QEMU's VIRTQUEUE_MAX_SIZE as well; the walk stays bounded.
                let indirectLimit = max(Int(size), Self.maxIndirectEntries)
                guard entries <= indirectLimit else { throw .chainTooLong(head: head, limit: indirectLimit) }
                try checkBuffer(d.address, d.length)
                // The indirect descriptor itself does not count towards the chain length.
                budget = entries
                tableBase = d.address
                tableSize = entries
                inIndirect = true
                index = 0
                continue
            }

            try checkBuffer(d.address, d.length)
            total += UInt64(d.length)
            guard total <= UInt64(UInt32.max) else { throw .chainLengthOverflow(head: head) }
            if d.flags & Self.flagWrite != 0 {
                chain.writable.append(GuestBuffer(address: d.address, length: d.length))
                chain.writableLength += Int(d.length)
            } else {
                if requireReadableFirst && !chain.writable.isEmpty { throw .readableAfterWritable(head: head) }
                chain.readable.append(GuestBuffer(address: d.address, length: d.length))
                chain.readableLength += Int(d.length)
            }
            guard d.flags & Self.flagNext != 0 else { break }
            index = d.next
        }
    }

    private func checkBuffer(_ address: UInt64, _ length: UInt32) throws(VirtqueueError) {
        guard !address.addingReportingOverflow(UInt64(length)).overflow else {
            throw .bufferOverflow(address: address, length: length)
        }
        guard length == 0 || memory.contains(address, length: Int(length)) else {
            throw .bufferOutsideMemory(address: address, length: length)
        }
    }

    // MARK: Used ring (device → driver)

    /// Returns chain `head` to the driver with `bytesWritten` bytes written into its
    /// writable buffers, and publishes the new used index (release ordering, §2.7.8).
    public func pushUsed(head: UInt16, bytesWritten: UInt32) throws(VirtqueueError) {
        try writeUsedElement(head: head, bytesWritten: bytesWritten, at: nextUsed)
        inflightLog?.headPublishing(head)
        nextUsed &+= 1
        do { try memory.storeRelease(nextUsed, at: layout.usedRing + 2) } catch { throw .memory(error) }
        inflightLog?.published(usedIndex: nextUsed)
    }

    /// Returns several chains and publishes the used index once, after all of them, so the
    /// driver sees them together — as a packet spread over mergeable receive buffers must be
    /// (§5.1.6.4.1 "MUST use all buffers used by a single receive packet together").
    /// An array, not any collection: a generic walk across modules reads each element through
    /// an unspecialized accessor that allocates, once per element.
    public func pushUsed(_ elements: [(head: UInt16, bytesWritten: UInt32)]) throws(VirtqueueError) {
        var index = nextUsed
        for e in elements {
            try writeUsedElement(head: e.head, bytesWritten: e.bytesWritten, at: index)
            inflightLog?.headPublishing(e.head)
            index &+= 1
        }
        nextUsed = index
        do { try memory.storeRelease(nextUsed, at: layout.usedRing + 2) } catch { throw .memory(error) }
        inflightLog?.published(usedIndex: nextUsed)
    }

    private func writeUsedElement(head: UInt16, bytesWritten: UInt32, at index: UInt16) throws(VirtqueueError) {
        guard head < size else { throw .invalidUsedHead(head) }
        let slot = layout.usedRing + 4 + 8 * UInt64(index % size)
        try guestWrite(UInt32(head), at: slot)
        try guestWrite(bytesWritten, at: slot + 4)
    }

    /// Whether the driver wants an interrupt for the used entries pushed since the last
    /// call that returned `true` (§2.7.10: `used_event` with EVENT_IDX, else the avail
    /// ring's NO_INTERRUPT flag). Call after ``pushUsed(head:bytesWritten:)``.
    public func needsNotification() throws(VirtqueueError) -> Bool {
        // The used index store must be visible before we read the driver's suppression state.
        MemoryBarrier.full()
        if eventIndex {
            let usedEvent: UInt16 = try guestRead(UInt16.self, at: layout.availRing + 4 + 2 * UInt64(size))
            let old = signalledUsed
            let new = nextUsed
            let wasValid = signalledUsedValid
            signalledUsed = new
            signalledUsedValid = true
            // vring_need_event(event, new, old): (u16)(new - event - 1) < (u16)(new - old)
            return !wasValid || (new &- usedEvent &- 1) < (new &- old)
        }
        let flags: UInt16 = try guestRead(UInt16.self, at: layout.availRing)
        return flags & Self.availNoInterrupt == 0
    }

    /// Asks the driver not to kick while the device is already processing
    /// (`VIRTQ_USED_F_NO_NOTIFY`; with EVENT_IDX, by leaving `avail_event` where it is until
    /// ``enableNotifications()``, so the driver's next entries do not cross it).
    public func disableNotifications() throws(VirtqueueError) {
        kicksWanted = false
        guard !eventIndex else { return }
        try guestWrite(Self.usedNoNotify, at: layout.usedRing)
    }

    /// Re-enables driver kicks and returns `true` if entries arrived meanwhile (so the caller
    /// must process again instead of sleeping — closes the race of §2.7.10).
    public func enableNotifications() throws(VirtqueueError) -> Bool {
        kicksWanted = true
        if eventIndex {
            try publishAvailEvent()
        } else {
            try guestWrite(UInt16(0), at: layout.usedRing)
        }
        MemoryBarrier.full()
        return try availableCount() > 0
    }

    private func publishAvailEvent() throws(VirtqueueError) {
        try guestWrite(nextAvail, at: layout.usedRing + 4 + 8 * UInt64(size))
    }

    // MARK: Checked accessors

    private func guestRead<T: FixedWidthInteger>(_ type: T.Type, at gpa: UInt64) throws(VirtqueueError) -> T {
        do { return try memory.read(T.self, at: gpa) } catch { throw .memory(error) }
    }

    private func guestWrite<T: FixedWidthInteger>(_ value: T, at gpa: UInt64) throws(VirtqueueError) {
        do { try memory.write(value, at: gpa) } catch { throw .memory(error) }
    }
}
