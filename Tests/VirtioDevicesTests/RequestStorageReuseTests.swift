import DeviceModel
import Synchronization
import Testing
import Virtio

/// Requests, chains and host-slice lists reuse their storage from request to request, and
/// none of that reuse is visible to code that keeps what it was handed.
@Suite("Runtime: storage reused from request to request")
struct RequestStorageReuseTests {
    /// What the handler saw of each request, recorded on the I/O thread.
    private final class Sightings: @unchecked Sendable {
        // SAFETY (@unchecked): `state` is a mutex; `kept` is touched on the I/O thread, and by
        // the test only after a `loop.sync`.
        struct Seen {
            var object: ObjectIdentifier
            var head: UInt16
            var readable: [GuestBuffer]
        }
        let state = Mutex<[Seen]>([])
        let keep = Atomic<Bool>(false)
        var kept: [VirtqueueRequest] = []
    }

    @Test("a finished request nothing refers to carries the next chain; one still held keeps its own and cannot complete again")
    func pooledRequests() throws {
        let guest = try TestGuest()
        let q = try guest.makeQueue(size: 16)
        let irq = RecordingInterrupts()
        let service = try VirtqueueService(name: "rt-pool")
        let seen = Sightings()
        let handler = ClosureHandler { queue in
            queue.forEachRequest { r throws(VirtioDeviceError) in
                seen.state.withLock {
                    $0.append(.init(object: ObjectIdentifier(r), head: r.head, readable: r.chain.readable))
                }
                try echo(r)
                if seen.keep.load(ordering: .relaxed) { seen.kept.append(r) }
                return .proceed
            }
        }
        service.start(try guest.activation(features: ringFeatures, queues: [q], interrupts: irq), handlers: [0: handler])
        for i in 0..<2 {
            try q.post([.readable([UInt8(i), 1, 2]), .writable(3)])
            try q.notify()
            _ = try q.waitUsed(1)
        }
        // Kept from here on: the next request must be a new object.
        seen.keep.store(true, ordering: .relaxed)
        let c = try q.post([.readable([9, 9]), .readable([8]), .writable(3)])
        try q.notify()
        _ = try q.waitUsed(1)
        let d = try q.post([.readable([7]), .writable(1)])
        try q.notify()
        _ = try q.waitUsed(1)
        let kept = service.loop.sync { seen.kept }
        let s = seen.state.withLock { $0 }
        try #require(s.count == 4 && kept.count == 2)
        #expect(s[1].object == s[0].object, "the first request, dropped after completing, is reused")
        #expect(s[3].object != s[2].object, "a request still held is not reused")
        // The held request still shows its own chain, untouched by the pops after it.
        #expect(kept[0].head == c.head)
        #expect(kept[0].chain.readable == s[2].readable)
        #expect(kept[0].chain.readable.count == 2 && kept[0].chain.writableLength == 3)
        #expect(kept[1].head == d.head)
        // Finished once: completing it again returns nothing more to the ring.
        #expect(kept[0].isFinished)
        let again = service.loop.sync { kept[0].complete(bytesWritten: 3) }
        #expect(!again)
        #expect(try q.usedIndex() == 4)
        service.shutdown()
    }

    @Test("popAvailable() refills the last chain's storage, but a chain the caller keeps stays as it was")
    func keptChainsKeepTheirBuffers() throws {
        let guest = try TestGuest()
        let q = try guest.makeQueue(size: 8)
        let queue = try q.binding(index: 0, features: ringFeatures).queue
        try q.post([.readable([1, 2, 3, 4]), .writable(8)])
        try q.post([.readable([5]), .readable([6, 7]), .writable(1), .writable(2)], indirect: true)
        let first = try #require(try queue.popAvailable())
        let firstReadable = first.readable, firstWritable = first.writable
        let second = try #require(try queue.popAvailable())
        #expect(first.readable == firstReadable && first.writable == firstWritable)
        #expect(first.readableLength == 4 && first.writableLength == 8)
        #expect(second.readable.count == 2 && second.writable.count == 2)
        #expect(second.readableLength == 3 && second.writableLength == 3)
        #expect(try queue.popAvailable() == nil)

        // The in-place form fills a caller's chain, and leaves it alone when the ring is empty.
        var chain = DescriptorChain()
        try q.post([.readable([1]), .writable(5)])
        #expect(try queue.popAvailable(into: &chain))
        #expect(chain.readableLength == 1 && chain.writableLength == 5)
        let head = chain.head
        #expect(try !queue.popAvailable(into: &chain))
        #expect(chain.head == head && chain.writableLength == 5)
    }

    @Test("takeBuffers hands out a byte range across buffers: partial first and last pieces, empty buffers skipped")
    func bufferRuns() throws {
        let guest = try TestGuest()
        let a = guest.allocate(16), b = guest.allocate(100), c = guest.allocate(50)
        try guest.memory.writeBytes((0..<16).map { UInt8($0) }, at: a)
        try guest.memory.writeBytes((0..<100).map { UInt8(100 + $0) }, at: b)
        try guest.memory.writeBytes((0..<50).map { UInt8($0 &* 3) }, at: c)
        let buffers = [GuestBuffer(address: a, length: 16), GuestBuffer(address: b + 100, length: 0),
                       GuestBuffer(address: b, length: 100), GuestBuffer(address: c, length: 50)]
        var reader = ChainReader(memory: guest.memory, buffers: buffers)
        try reader.skip(10)
        let run = try reader.takeBuffers(count: 120)
        #expect(Array(run) == [GuestBuffer(address: a + 10, length: 6), GuestBuffer(address: b, length: 100),
                               GuestBuffer(address: c, length: 14)])
        #expect(run.byteCount == 120 && reader.remaining == 36)
        #expect(try reader.read(UInt8.self) == 42)
        let bytes = try guest.memory.withSlices(of: run) { slices in slices.flatMap { Array(UnsafeRawBufferPointer($0)) } }
        var expected: [UInt8] = (10..<16).map { UInt8($0) }
        expected += (0..<100).map { UInt8(100 + $0) }
        expected += (0..<14).map { UInt8($0 &* 3) }
        #expect(bytes == expected)
        #expect(Array(GuestBufferRun()).isEmpty)

        // Beyond the chain: refused, nothing consumed.
        var writer = ChainWriter(memory: guest.memory, buffers: buffers)
        #expect(throws: ChainAccessError.shortChain(needed: 167, available: 166)) { try writer.takeBuffers(count: 167) }
        #expect(writer.remaining == 166 && writer.bytesWritten == 0)
    }

    @Test("slices gathered into reused storage: the list is emptied first, its storage kept")
    func slicesIntoStorage() throws {
        let guest = try TestGuest()
        let a = guest.allocate(64)
        var storage: [UnsafeMutableRawBufferPointer] = []
        let three = [GuestBuffer(address: a, length: 8), GuestBuffer(address: a + 16, length: 8), GuestBuffer(address: a + 32, length: 8)]
        #expect(try guest.memory.withSlices(of: three, gatheringInto: &storage) { $0.count } == 3)
        let capacity = storage.capacity
        #expect(try guest.memory.withSlices(of: [GuestBuffer(address: a, length: 8), GuestBuffer(address: a + 8, length: 8)],
                                            gatheringInto: &storage) { $0.map(\.count) } == [16])
        #expect(storage.capacity == capacity)
        #expect(throws: GuestMemoryError.self) {
            try guest.memory.withSlices(of: [GuestBuffer(address: a, length: 8), GuestBuffer(address: 1 << 62, length: 8)],
                                        gatheringInto: &storage) { _ in () }
        }
    }
}
