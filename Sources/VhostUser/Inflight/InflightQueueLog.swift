import DeviceModel
import Virtio

/// One queue's region of the ``InflightBuffer``: records the heads the device holds while it
/// runs, and on start tells which heads an earlier run (a backend that crashed, was killed or
/// gave up on a stuck request) took and never returned, in the order it took them.
///
/// Follows vhost-user.rst "Inflight I/O tracking" for split rings: a taken head gets the next
/// counter value and `inflight = 1`; heads returned together are linked through `next` from
/// `last_batch_head` before the used index is published, and cleared (then `used_idx` set to
/// the used index) after — so a run that died between the two leaves a batch the next start
/// can recognise and clear.
///
/// Owned by the queue's thread once the queue runs (the connection thread before that), as
/// its ``SplitVirtqueue`` is.
final class InflightQueueLog: VirtqueueInflightLog, @unchecked Sendable {
    // SAFETY (@unchecked): single owner at a time (see type docs); handed to the device's
    // thread with its queue at activation.
    private let buffer: InflightBuffer
    /// Byte offset of this queue's region in the buffer.
    private let base: UInt64
    /// Counter for the next taken head (orders resubmission).
    private var counter: UInt64 = 0
    /// Heads written to the used ring since the last published used index.
    private var batch: [UInt16] = []

    /// Region header fields (byte offsets).
    private enum Field {
        static let version: UInt64 = 8
        static let descriptorCount: UInt64 = 10
        static let lastBatchHead: UInt64 = 12
        static let usedIndex: UInt64 = 14
    }
    /// Descriptor-entry fields (byte offsets within an entry).
    private enum Entry {
        static let inflight: UInt64 = 0
        static let next: UInt64 = 6
        static let counter: UInt64 = 8
    }
    static let version: UInt16 = 1

    init(buffer: InflightBuffer, base: UInt64) {
        self.buffer = buffer
        self.base = base
    }

    private var memory: MappedGuestMemory { buffer.memory }
    private var entries: UInt16 { buffer.queueSize }

    private func entry(_ head: UInt16) -> UInt64 {
        base + InflightBuffer.headerSize + InflightBuffer.entrySize * UInt64(head)
    }

    // Every offset below lies inside the mapping by construction (heads are checked against
    // `entries`, the buffer was sized for it), so an access cannot fail; `try?` only keeps a
    // broken invariant from taking the device down with it.
    private func load<T: FixedWidthInteger>(_ type: T.Type, _ offset: UInt64) -> T { (try? memory.read(T.self, at: offset)) ?? 0 }
    private func store<T: FixedWidthInteger>(_ value: T, _ offset: UInt64) { try? memory.write(value, at: offset) }

    /// Brings the region in line with the used ring at `usedIndex` and returns the heads
    /// below `ringSize` still marked in flight, oldest first: the chains to resubmit before
    /// anything new. A region never used (version 0: fresh from `GET_INFLIGHT_FD`, or cleared
    /// by the frontend at a VM reset) is initialised and yields none; so is one of a version
    /// this backend cannot read.
    func recover(usedIndex: UInt16, ringSize: UInt16) -> [UInt16] {
        store(entries, base + Field.descriptorCount)
        guard load(UInt16.self, base + Field.version) == Self.version else {
            // Uninitialised (or not in a layout we know): the entries are no record of ours.
            try? memory.fill(0, at: entry(0), length: Int(InflightBuffer.entrySize) * Int(entries))
            store(UInt16(0), base + Field.lastBatchHead)
            store(usedIndex, base + Field.usedIndex)
            MemoryBarrier.write()
            store(Self.version, base + Field.version)
            counter = 0
            return []
        }
        let recorded = load(UInt16.self, base + Field.usedIndex)
        if recorded != usedIndex {
            // The last batch reached the used ring, but the run ended before clearing its
            // heads: clear them now. The batch is linked from `last_batch_head`; a corrupt
            // link ends the walk (at worst a finished request is redone).
            let batchSize = min(Int(usedIndex &- recorded), Int(entries))
            var head = load(UInt16.self, base + Field.lastBatchHead)
            for _ in 0..<batchSize {
                guard head < entries else { break }
                store(UInt8(0), entry(head) + Entry.inflight)
                head = load(UInt16.self, entry(head) + Entry.next)
            }
            MemoryBarrier.write()
            store(usedIndex, base + Field.usedIndex)
        }
        var taken: [(head: UInt16, counter: UInt64)] = []
        for head in 0..<ringSize where load(UInt8.self, entry(head) + Entry.inflight) == 1 {
            taken.append((head, load(UInt64.self, entry(head) + Entry.counter)))
        }
        taken.sort { ($0.counter, $0.head) < ($1.counter, $1.head) }
        counter = (taken.last?.counter ?? 0) &+ 1
        return taken.map(\.head)
    }

    // MARK: VirtqueueInflightLog (the queue's thread)

    func headTaken(_ head: UInt16) {
        guard head < entries else { return }
        store(counter, entry(head) + Entry.counter)
        counter &+= 1
        MemoryBarrier.write()
        store(UInt8(1), entry(head) + Entry.inflight)
    }

    func headPublishing(_ head: UInt16) {
        guard head < entries else { return }
        store(load(UInt16.self, base + Field.lastBatchHead), entry(head) + Entry.next)
        store(head, base + Field.lastBatchHead)
        batch.append(head)
    }

    func published(usedIndex: UInt16) {
        for head in batch { store(UInt8(0), entry(head) + Entry.inflight) }
        batch.removeAll(keepingCapacity: true)
        MemoryBarrier.write()
        store(usedIndex, base + Field.usedIndex)
    }
}
