import DeviceModel
import Synchronization
import Testing
import XenGlue
import XenSimulation
#if canImport(Glibc)
import Glibc
#endif

/// A mapper over one anonymous buffer of `frames` pages; frames beyond it, or marked
/// failing, are reported per page.
private final class BufferFrameMapper: GuestFrameMapper, @unchecked Sendable {
    // SAFETY (@unchecked): `backing` is immutable; counters are in a Mutex.
    let backing: UnsafeMutableRawPointer
    let frames: Int
    struct Counts { var maps = 0, unmaps = 0, failing: [UInt64: Int32] = [:], failWhole: Int32? }
    let counts = Mutex(Counts())

    init(frames: Int) {
        self.frames = frames
        backing = .allocate(byteCount: frames * 4096, alignment: 4096)
        backing.initializeMemory(as: UInt8.self, repeating: 0, count: frames * 4096)
    }
    deinit { backing.deallocate() }

    func map(firstFrame: UInt64, count: Int) throws(GuestMemoryError) -> GuestFrameMapping {
        let (failing, whole) = counts.withLock { c in
            c.maps += 1
            return (c.failing, c.failWhole)
        }
        if let whole { throw .mappingFailed(gpa: firstFrame << 12, errno: whole) }
        let errors = (0..<count).map { i -> Int32 in
            let f = firstFrame + UInt64(i)
            if f >= UInt64(frames) { return EFAULT }
            return failing[f] ?? 0
        }
        let host = firstFrame < UInt64(frames) ? backing + Int(firstFrame) * 4096 : backing
        return GuestFrameMapping(firstFrame: firstFrame, host: host, pageErrors: errors)
    }

    func unmap(_ mapping: GuestFrameMapping) { counts.withLock { $0.unmaps += 1 } }

    var maps: Int { counts.withLock { $0.maps } }
    var unmaps: Int { counts.withLock { $0.unmaps } }
}

@Suite struct PageMappedGuestMemoryTests {
    @Test func readsAndWritesAcrossBuckets() throws {
        let mapper = BufferFrameMapper(frames: 64)
        let memory = PageMappedGuestMemory(mapper: mapper, bucketFrames: 4)
        // 16 KiB buckets; write 8 bytes straddling the first boundary.
        try memory.write(UInt64(0x0807_0605_0403_0201), at: 0x3ffc)
        #expect(try memory.read(UInt64.self, at: 0x3ffc) == 0x0807_0605_0403_0201)
        try memory.withSlices(at: 0x3ffc, length: 8) { slices in
            #expect(slices.map(\.count) == [4, 4])
        }
        // Scatter-gather uses the two cached buckets; the copies (which ask for one
        // contiguous view first) each got a one-off mapping of the two frames.
        #expect(memory.cachedBucketCount == 2)
        #expect(memory.statistics.misses == 2)
        #expect(memory.statistics.oneOffMappings == 2)
        try memory.withSlices(at: 0x3ffc, length: 8) { _ in }
        #expect(memory.statistics.hits == 2)
    }

    @Test func oneBadFrameFailsOnlyAccessesThatTouchIt() throws {
        let mapper = BufferFrameMapper(frames: 64)
        mapper.counts.withLock { $0.failing[5] = EINVAL }
        let memory = PageMappedGuestMemory(mapper: mapper, bucketFrames: 16)
        try memory.write(UInt32(0xaabb_ccdd), at: 4 * 4096 + 12)
        try memory.write(UInt32(0x1122_3344), at: 6 * 4096)
        #expect(throws: GuestMemoryError.mappingFailed(gpa: 5 * 4096, errno: EINVAL)) {
            try memory.write(UInt8(1), at: 5 * 4096 + 100)
        }
        // A range ending in the bad page fails as a whole, naming the bad page.
        #expect(throws: GuestMemoryError.mappingFailed(gpa: 5 * 4096, errno: EINVAL)) {
            _ = try memory.readBytes(at: 4 * 4096 + 4090, count: 16)
        }
        #expect(try memory.read(UInt32.self, at: 4 * 4096 + 12) == 0xaabb_ccdd)
        #expect(try memory.read(UInt32.self, at: 6 * 4096) == 0x1122_3344)
        // One mapping serves the good pages around the bad one; each access that needs the
        // bad one maps the bucket again (the frame may have been populated since).
        #expect(mapper.maps == 3)
        #expect(memory.statistics.remaps == 2)
        #expect(!memory.contains(5 * 4096, length: 1))
        #expect(memory.contains(6 * 4096, length: 4096))
    }

    @Test func framesOutsideTheDomainAreErrorsNotCrashes() throws {
        let memory = PageMappedGuestMemory(mapper: BufferFrameMapper(frames: 8), bucketFrames: 4)
        #expect(throws: GuestMemoryError.mappingFailed(gpa: 8 * 4096, errno: EFAULT)) {
            _ = try memory.read(UInt8.self, at: 8 * 4096)
        }
        #expect(throws: GuestMemoryError.overflow(gpa: .max - 2, length: 8)) {
            _ = try memory.read(UInt64.self, at: .max - 2)
        }
        #expect(throws: GuestMemoryError.self) {
            _ = try memory.readBytes(at: 0, count: -1)
        }
        #expect(throws: GuestMemoryError.mappingFailed(gpa: 0xffff_ffff_ffff_f000, errno: EFAULT)) {
            _ = try memory.read(UInt8.self, at: .max)
        }
    }

    @Test func wholeMapFailureIsAnError() throws {
        let mapper = BufferFrameMapper(frames: 8)
        mapper.counts.withLock { $0.failWhole = ENOMEM }
        let memory = PageMappedGuestMemory(mapper: mapper)
        #expect(throws: GuestMemoryError.mappingFailed(gpa: 0, errno: ENOMEM)) {
            _ = try memory.read(UInt8.self, at: 10)
        }
        #expect(memory.cachedBucketCount == 0)
    }

    @Test func contiguousAccessAcrossBucketsGetsAOneOffMapping() throws {
        let mapper = BufferFrameMapper(frames: 64)
        let memory = PageMappedGuestMemory(mapper: mapper, bucketFrames: 4)
        try memory.writeBytes(Array(0..<32), at: 4 * 4096 - 16)
        let bytes = try memory.withContiguousBytes(at: 4 * 4096 - 16, length: 32) { Array($0) }
        #expect(bytes == Array(0..<32))
        #expect(memory.statistics.oneOffMappings == 2, "the write and the view")
        // The one-off mapping is gone again; cached ones stay.
        #expect(mapper.maps - mapper.unmaps == memory.cachedBucketCount)
    }

    @Test func invalidateDropsMappingsButNotThoseInUse() throws {
        let mapper = BufferFrameMapper(frames: 64)
        let memory = PageMappedGuestMemory(mapper: mapper, bucketFrames: 4)
        try memory.write(UInt8(0x5a), at: 0x100)
        #expect(memory.cachedBucketCount == 1)
        try memory.withContiguousBytes(at: 0x100, length: 1) { bytes in
            memory.invalidate()
            #expect(memory.cachedBucketCount == 0)
            #expect(mapper.unmaps == 0, "in use: not unmapped yet")
            #expect(bytes[0] == 0x5a)
        }
        #expect(mapper.unmaps == 1)
        #expect(memory.statistics.invalidations == 1)
        #expect(try memory.read(UInt8.self, at: 0x100) == 0x5a)
        #expect(mapper.maps == 2)
    }

    @Test func leastRecentlyUsedBucketIsEvicted() throws {
        let mapper = BufferFrameMapper(frames: 64)
        let memory = PageMappedGuestMemory(mapper: mapper, bucketFrames: 1, maxBuckets: 2)
        _ = try memory.read(UInt8.self, at: 0x0000) // A
        _ = try memory.read(UInt8.self, at: 0x1000) // B
        _ = try memory.read(UInt8.self, at: 0x0000) // A again
        _ = try memory.read(UInt8.self, at: 0x2000) // C evicts B
        #expect(memory.statistics.evictions == 1)
        #expect(mapper.unmaps == 1)
        _ = try memory.read(UInt8.self, at: 0x0000) // A still cached
        #expect(memory.statistics.misses == 3)
        _ = try memory.read(UInt8.self, at: 0x1000) // B mapped again
        #expect(memory.statistics.misses == 4)
    }

    @Test func concurrentAccessFromManyThreads() async throws {
        let mapper = BufferFrameMapper(frames: 256)
        let memory = PageMappedGuestMemory(mapper: mapper, bucketFrames: 8, maxBuckets: 4)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for t in 0..<4 {
                group.addTask {
                    for i in 0..<500 {
                        let gpa = UInt64((i * 4096 + t * 8) % (256 * 4096))
                        try memory.write(UInt64(i), at: gpa)
                        #expect(try memory.read(UInt64.self, at: gpa) == UInt64(i))
                        if i % 97 == 0 { memory.invalidate() }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(mapper.maps - mapper.unmaps == memory.cachedBucketCount)
    }

    @Test func xenForeignMappingOfSimulatedRAM() throws {
        let ram = try SharedGuestRAM(layout: [(0, 1 << 20), (0x20_0000, 1 << 20)])
        let xen = try SimulatedXen(domid: 2, ram: ram)
        let mapper = XenForeignFrameMapper(foreignMemory: try xen.openHypervisor().foreignMemory, domid: 2)
        let memory = PageMappedGuestMemory(mapper: mapper)
        try ram.memory.write(UInt32(0x600d_f00d), at: 0x20_0010)
        // The device model's mapping sees the hypervisor's bytes and vice versa.
        #expect(try memory.read(UInt32.self, at: 0x20_0010) == 0x600d_f00d)
        try memory.write(UInt16(0xabcd), at: 0xff000)
        #expect(try ram.memory.read(UInt16.self, at: 0xff000) == 0xabcd)
        // The hole between the regions fails per page.
        #expect(throws: GuestMemoryError.mappingFailed(gpa: 0x10_0000, errno: EINVAL)) {
            _ = try memory.read(UInt8.self, at: 0x10_0000)
        }
        xen.failFrame(0x201, errno: EFAULT)
        memory.invalidate()
        #expect(throws: GuestMemoryError.mappingFailed(gpa: 0x20_1000, errno: EFAULT)) {
            _ = try memory.read(UInt8.self, at: 0x20_1000)
        }
        #expect(try memory.read(UInt32.self, at: 0x20_0010) == 0x600d_f00d)
    }
}
