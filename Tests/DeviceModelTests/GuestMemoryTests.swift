import DeviceModel
import DeviceModelTesting
import Testing

@Suite("GuestMemory bounds and helpers")
struct GuestMemoryTests {
    /// RAM [0, 64K) and [64K, 128K) (adjacent, two mappings), a hole, then [192K, 196K).
    static func layout() throws -> MappedGuestMemory {
        try MappedGuestMemory.anonymous([(0x0, 0x10000), (0x10000, 0x10000), (0x30000, 0x1000)])
    }

    @Test func addressPlusLengthOverflowIsRejected() throws {
        let memory = try Self.layout()
        #expect(throws: GuestMemoryError.overflow(gpa: .max - 3, length: 8)) {
            try memory.withSlices(at: .max - 3, length: 8) { _ in }
        }
        #expect(throws: GuestMemoryError.overflow(gpa: .max, length: 2)) {
            try memory.withContiguousBytes(at: .max, length: 2) { _ in }
        }
        #expect(throws: GuestMemoryError.overflow(gpa: .max - 1, length: Int.max)) {
            _ = try memory.readBytes(at: .max - 1, count: Int.max)
        }
        #expect(!memory.contains(.max - 3, length: 8))
    }

    @Test func negativeLengthsAreRejected() throws {
        let memory = try Self.layout()
        #expect(throws: GuestMemoryError.overflow(gpa: 0x100, length: -1)) {
            try memory.withSlices(at: 0x100, length: -1) { _ in }
        }
        #expect(throws: GuestMemoryError.overflow(gpa: 0x100, length: -8)) {
            try memory.withContiguousBytes(at: 0x100, length: -8) { _ in }
        }
        #expect(throws: GuestMemoryError.overflow(gpa: 0x100, length: -1)) {
            _ = try memory.readBytes(at: 0x100, count: -1)
        }
        #expect(throws: GuestMemoryError.overflow(gpa: 0x100, length: -4)) {
            try memory.fill(0xAA, at: 0x100, length: -4)
        }
        #expect(!memory.contains(0x100, length: -1))
    }

    @Test func rangesRunningIntoAHoleAreRejected() throws {
        let memory = try Self.layout()
        // 16 bytes from the end of the second region into the hole.
        #expect(throws: GuestMemoryError.outOfRange(gpa: 0x1FFF8, length: 16)) {
            try memory.withSlices(at: 0x1FFF8, length: 16) { _ in }
        }
        // Not "notContiguous": there is no RAM to be contiguous with.
        #expect(throws: GuestMemoryError.outOfRange(gpa: 0x1FFF8, length: 16)) {
            try memory.withContiguousBytes(at: 0x1FFF8, length: 16) { _ in }
        }
        // Starting in the hole, and spanning the whole hole into the next region.
        #expect(throws: GuestMemoryError.outOfRange(gpa: 0x20000, length: 1)) {
            _ = try memory.read(UInt8.self, at: 0x20000)
        }
        #expect(throws: GuestMemoryError.outOfRange(gpa: 0x1FFFF, length: 0x10002)) {
            try memory.withSlices(at: 0x1FFFF, length: 0x10002) { _ in }
        }
        // Past the last region, and below... nothing (RAM starts at 0) but above it.
        #expect(throws: GuestMemoryError.outOfRange(gpa: 0x31000, length: 4)) {
            try memory.write(UInt32(1), at: 0x31000)
        }
        #expect(throws: GuestMemoryError.outOfRange(gpa: 0x30FFE, length: 4)) {
            try memory.write(UInt32(1), at: 0x30FFE)
        }
        // A failed write leaves the RAM part untouched.
        #expect(try memory.readBytes(at: 0x30FFE, count: 2) == [0, 0])
    }

    @Test func adjacentRegionsAreReachableThroughSlicesButNotContiguously() throws {
        let memory = try Self.layout()
        let bytes = (0..<16).map { UInt8($0 + 1) }
        try memory.writeBytes(bytes, at: 0xFFF8)
        #expect(try memory.readBytes(at: 0xFFF8, count: 16) == bytes)
        let sliceLengths = try memory.withSlices(at: 0xFFF8, length: 16) { $0.map(\.count) }
        #expect(sliceLengths == [8, 8])
        #expect(throws: GuestMemoryError.notContiguous(gpa: 0xFFF8, length: 16)) {
            try memory.withContiguousBytes(at: 0xFFF8, length: 16) { _ in }
        }
        // Each half alone is contiguous.
        try memory.withContiguousBytes(at: 0xFFF8, length: 8) { #expect(Array($0) == Array(bytes[0..<8])) }
        try memory.withContiguousBytes(at: 0x10000, length: 8) { #expect(Array($0) == Array(bytes[8..<16])) }
        // An unaligned integer across the boundary is read through slices.
        #expect(try memory.read(UInt32.self, at: 0xFFFE) == 0x0A09_0807)
        #expect(memory.contains(0x0, length: 0x20000))
        #expect(!memory.contains(0x0, length: 0x20001))
    }

    @Test func integersAreLittleEndian() throws {
        let memory = try Self.layout()
        try memory.write(UInt32(0x1122_3344), at: 0x100)
        #expect(try memory.readBytes(at: 0x100, count: 4) == [0x44, 0x33, 0x22, 0x11])
        try memory.write(UInt64(0x0102_0304_0506_0708), at: 0x201)  // unaligned is fine for plain access
        #expect(try memory.read(UInt64.self, at: 0x201) == 0x0102_0304_0506_0708)
        #expect(try memory.read(UInt16.self, at: 0x201) == 0x0708)
        try memory.fill(0xAB, at: 0x300, length: 3)
        #expect(try memory.readBytes(at: 0x2FF, count: 5) == [0, 0xAB, 0xAB, 0xAB, 0])
    }

    @Test func atomicAccessesRequireNaturalAlignment() throws {
        let memory = try Self.layout()
        #expect(throws: GuestMemoryError.misaligned(gpa: 0x101, size: 2)) {
            _ = try memory.loadAcquire(UInt16.self, at: 0x101)
        }
        #expect(throws: GuestMemoryError.misaligned(gpa: 0x103, size: 2)) {
            try memory.storeRelease(7, at: 0x103)
        }
        try memory.storeRelease(0xA55A, at: 0x102)
        #expect(try memory.loadAcquire(UInt16.self, at: 0x102) == 0xA55A)
        #expect(try memory.readBytes(at: 0x102, count: 2) == [0x5A, 0xA5])
        // Aligned but outside RAM is a range error, not a crash.
        #expect(throws: GuestMemoryError.outOfRange(gpa: 0x20000, length: 2)) {
            _ = try memory.loadAcquire(UInt16.self, at: 0x20000)
        }
    }

    @Test func zeroLengthAccessesTouchNothingAndSucceed() throws {
        let memory = try Self.layout()
        try memory.withSlices(at: 0x20000, length: 0) { #expect($0.isEmpty) }
        try memory.withContiguousBytes(at: 0x20000, length: 0) { #expect($0.count == 0) }
        #expect(try memory.readBytes(at: .max, count: 0) == [])
        try memory.fill(1, at: .max, length: 0)
    }

    @Test func regionEndingAtTheTopOfTheAddressSpaceIsUsableToItsLastByte() throws {
        let base = UInt64.max - 0xFFF  // [2^64 - 4096, 2^64)
        let memory = try MappedGuestMemory.anonymous([(base, 0x1000)])
        try memory.write(UInt64(0x1122_3344_5566_7788), at: .max - 7)
        #expect(try memory.read(UInt64.self, at: .max - 7) == 0x1122_3344_5566_7788)
        try memory.withContiguousBytes(at: base, length: 0x1000) { #expect($0.count == 0x1000) }
        #expect(memory.contains(base, length: 0x1000))
        #expect(throws: GuestMemoryError.overflow(gpa: base, length: 0x1001)) {
            try memory.withSlices(at: base, length: 0x1001) { _ in }
        }
    }

    @Test func invalidLayoutsAreRejected() throws {
        // Overlapping regions.
        #expect(throws: GuestMemoryError.outOfRange(gpa: 0x800, length: 0x1000)) {
            _ = try MappedGuestMemory.anonymous([(0, 0x1000), (0x800, 0x1000)])
        }
        // Empty region.
        #expect(throws: GuestMemoryError.outOfRange(gpa: 0x1000, length: 0)) {
            _ = try MappedGuestMemory.anonymous([(0x1000, 0)])
        }
        // Region wrapping past 2^64.
        #expect(throws: GuestMemoryError.overflow(gpa: .max, length: 2)) {
            _ = try MappedGuestMemory.anonymous([(.max, 2)])
        }
    }

    @Test func regionsAreFoundRegardlessOfLayoutOrder() throws {
        let memory = try MappedGuestMemory.anonymous([(0x30000, 0x1000), (0x0, 0x1000), (0x10000, 0x1000)])
        #expect(memory.regions.map(\.guestBase) == [0x0, 0x10000, 0x30000])
        for base: UInt64 in [0x0, 0x10000, 0x30000] {
            try memory.write(UInt32(truncatingIfNeeded: base | 0xA), at: base + 0xFFC)
            #expect(try memory.read(UInt32.self, at: base + 0xFFC) == UInt32(truncatingIfNeeded: base | 0xA))
        }
        #expect(!memory.contains(0x1000, length: 1))
        #expect(!memory.contains(0x11000, length: 1))
    }
}
