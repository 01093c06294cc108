import CXen
import DeviceModel
import Testing
@testable import XenGlue
import XenSimulation

/// The buffered ioreq ring: Xen's producer in the simulation, our consumer in the server,
/// and the consumer alone on hand-made pages.
@Suite struct BufferedRingTests {
    /// Sends a buffered write, retrying while the ring is full (Xen would fall back to the
    /// synchronous path; here the consumer catches up).
    private func buffered(_ d: XenTestDomain, _ p: SimulatedIoreq) throws {
        for _ in 0..<2000 {
            do {
                try d.xen.sendBuffered(p)
                return
            } catch .bufferedRingFull {
                usleepMs(1)
            }
        }
        Issue.record("buffered ring stayed full")
    }

    private func waitUntilDrained(_ d: XenTestDomain) throws {
        for _ in 0..<2000 {
            let ring = try d.xen.bufferedRing()
            if ring.readPointer == ring.writePointer { return }
            usleepMs(1)
        }
        Issue.record("buffered ring not drained")
    }

    @Test func writesOfEverySizeArriveInOrder() throws {
        let d = try XenTestDomain()
        let vga = XenTestDomain.vgaBase
        try buffered(d, SimulatedIoreq(type: SimulatedIoreq.copy, address: vga, data: 0x11, size: 1, isRead: false))
        try buffered(d, SimulatedIoreq(type: SimulatedIoreq.copy, address: vga + 2, data: 0x2222, size: 2, isRead: false))
        try buffered(d, SimulatedIoreq(type: SimulatedIoreq.copy, address: vga + 4, data: 0x4444_4444, size: 4, isRead: false))
        try buffered(d, SimulatedIoreq(type: SimulatedIoreq.copy, address: vga + 8, data: 0x8877_6655_4433_2211, size: 8, isRead: false))
        try buffered(d, SimulatedIoreq(type: SimulatedIoreq.pio, address: 0x61, data: 0x5, size: 1, isRead: false))
        // A synchronous access drains the ring first, so it observes every earlier write.
        #expect(try d.pio(read: 0x61, size: 1) == 5)
        #expect(d.vga.log.map(\.description) == ["W1@0=0x11", "W2@2=0x2222", "W4@4=0x44444444", "W8@8=0x8877665544332211"])
        #expect(d.server.statistics.buffered == 5)
        #expect(d.faults.isEmpty)
    }

    @Test func eightByteWriteTakesTwoSlotsLowHalfFirst() throws {
        let d = try XenTestDomain()
        try buffered(d, SimulatedIoreq(type: SimulatedIoreq.copy, address: XenTestDomain.vgaBase + 0x10, data: 0xdead_beef_0bad_f00d, size: 8, isRead: false))
        try waitUntilDrained(d)
        let ring = try d.xen.bufferedRing()
        #expect(ring.writePointer == 2)
        #expect(ring.slots[0].size == 3 && ring.slots[1].size == 3)
        #expect(ring.slots[0].data == 0x0bad_f00d)
        #expect(ring.slots[1].data == 0xdead_beef)
        #expect(ring.slots[0].addr == 0xa_0010)
        #expect(d.vga.log == [.init(offset: 0x10, size: 8, write: true, value: 0xdead_beef_0bad_f00d)])
    }

    @Test func splitWriteAcrossTheRingEnd() throws {
        let d = try XenTestDomain()
        // Fill slots 0…509, one by one, letting the consumer keep up.
        for i in 0..<510 {
            try buffered(d, SimulatedIoreq(type: SimulatedIoreq.copy, address: XenTestDomain.vgaBase + UInt64(i), data: UInt64(i & 0xff), size: 1, isRead: false))
        }
        try waitUntilDrained(d)
        #expect(try d.xen.bufferedRing().writePointer == 510)
        // The 8-byte write now occupies slot 510 and slot 0.
        try buffered(d, SimulatedIoreq(type: SimulatedIoreq.copy, address: XenTestDomain.vgaBase + 0x1000, data: 0x0102_0304_0506_0708, size: 8, isRead: false))
        try waitUntilDrained(d)
        let ring = try d.xen.bufferedRing()
        #expect(ring.slots[510].data == 0x0506_0708)
        #expect(ring.slots[0].data == 0x0102_0304)
        #expect(d.vga.log.last == .init(offset: 0x1000, size: 8, write: true, value: 0x0102_0304_0506_0708))
        // The next write finds read_pointer ≥ 511 and rebases both pointers.
        try buffered(d, SimulatedIoreq(type: SimulatedIoreq.copy, address: XenTestDomain.vgaBase, data: 0xee, size: 1, isRead: false))
        try waitUntilDrained(d)
        let rebased = try d.xen.bufferedRing()
        #expect(rebased.readPointer < 511)
        #expect(rebased.readPointer == rebased.writePointer)
        #expect(d.vga.log.count == 512)
    }

    @Test func wrapsManyTimesWithoutLosingOrder() throws {
        let d = try XenTestDomain()
        let sizes: [UInt32] = [1, 2, 4, 8, 8, 4, 2]
        var expected: [ScratchDevice.Access] = []
        for i in 0..<1500 {
            let size = sizes[i % sizes.count]
            let value = UInt64(i) &* 0x0101_0101_0101_0101 & IORequest.mask(forSize: Int(size))
            let offset = UInt64((i * 8) % 0x1_0000)
            try buffered(d, SimulatedIoreq(type: SimulatedIoreq.copy, address: XenTestDomain.vgaBase + offset, data: value, size: size, isRead: false))
            expected.append(.init(offset: offset, size: Int(size), write: true, value: value))
        }
        _ = try d.pio(read: 0x60, size: 1)
        #expect(d.vga.log == expected)
        let ring = try d.xen.bufferedRing()
        #expect(ring.readPointer == ring.writePointer)
        #expect(ring.writePointer < 2 * 511, "pointers are rebased in atomic mode")
        #expect(d.faults.isEmpty)
    }

    @Test func emulatedVGAWritesAreBuffered() throws {
        let d = try XenTestDomain()
        d.xen.bufferWrites(in: AddressRange(base: 0xa_0000, length: 0x2_0000)!)
        var w = IORequest.write(.memory, XenTestDomain.vgaBase + 0x40, size: 4, value: 0x1234_5678)
        try d.xen.emulate(vcpu: 0, &w)
        var r = IORequest.read(.memory, XenTestDomain.vgaBase + 0x40, size: 4)
        try d.xen.emulate(vcpu: 0, &r)
        #expect(r.value == 0x1234_5678)
        #expect(d.server.statistics.buffered == 1)
        #expect(try d.xen.bufferedRing().writePointer == 1)
    }

    @Test func simulationRefusesWhatXenCannotBuffer() throws {
        let d = try XenTestDomain()
        #expect(throws: XenSimulationError.self) {
            try d.xen.sendBuffered(SimulatedIoreq(type: SimulatedIoreq.copy, address: 0x10_0000, data: 1, size: 1, isRead: false))
        }
        #expect(throws: XenSimulationError.self) {
            try d.xen.sendBuffered(SimulatedIoreq(type: SimulatedIoreq.copy, address: 0xa_0000, data: 0x1000, size: 1, isRead: false, dataIsPointer: true))
        }
    }

    // MARK: The consumer on hand-made pages

    private final class Page {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
        init() { raw.initializeMemory(as: UInt8.self, repeating: 0, count: 4096) }
        deinit { raw.deallocate() }
        var page: UnsafeMutablePointer<buffered_iopage_t> { raw.assumingMemoryBound(to: buffered_iopage_t.self) }
        func set(read: UInt32, write: UInt32) {
            page.pointee.read_pointer = read
            page.pointee.write_pointer = write
        }
        func put(_ pointer: UInt32, type: Int32 = IOREQ_TYPE_COPY, dir: Int32 = IOREQ_WRITE, sizeLog2: UInt8, addr: UInt32, data: UInt32) {
            swiftdm_bufioreq_store_slot(page, pointer, swiftdm_bufioreq_make(UInt8(type), UInt8(dir), sizeLog2, addr, data))
        }
        func drain() -> ([BufferedIoreq], [XenIoreqError]) {
            var entries: [BufferedIoreq] = []
            var faults: [XenIoreqError] = []
            BufferedIoreqRing(page: page).drain({ entries.append($0) }, fault: { faults.append($0) })
            return (entries, faults)
        }
    }

    @Test func consumerJoinsAQuadWordAcrossTheEnd() {
        let p = Page()
        p.set(read: 510, write: 513)
        p.put(510, sizeLog2: 3, addr: 0xb8000, data: 0x4433_2211)
        p.put(511, sizeLog2: 3, addr: 0xb8000, data: 0x8877_6655)
        p.put(512, type: IOREQ_TYPE_PIO, sizeLog2: 1, addr: 0x3d4, data: 0x0e0f)
        let (entries, faults) = p.drain()
        #expect(entries == [
            BufferedIoreq(type: UInt8(IOREQ_TYPE_COPY), address: 0xb8000, size: 8, data: 0x8877_6655_4433_2211),
            BufferedIoreq(type: UInt8(IOREQ_TYPE_PIO), address: 0x3d4, size: 2, data: 0x0e0f),
        ])
        #expect(faults.isEmpty)
        #expect(p.page.pointee.read_pointer == 513)
    }

    @Test func consumerSkipsAnOverrunRing() {
        let p = Page()
        p.set(read: 0, write: 600)
        let (entries, faults) = p.drain()
        #expect(entries.isEmpty)
        #expect(faults == [.bufferedRingOverrun(readPointer: 0, writePointer: 600)])
        #expect(p.page.pointee.read_pointer == 600)
    }

    @Test func consumerReportsATornQuadWordAndCarriesOn() {
        let p = Page()
        p.set(read: 7, write: 8)
        p.put(7, sizeLog2: 3, addr: 0xa0000, data: 1)
        let (entries, faults) = p.drain()
        #expect(entries.isEmpty)
        #expect(faults == [.bufferedIncompleteQuadWord(readPointer: 7, writePointer: 8)])
        #expect(p.page.pointee.read_pointer == 8)
    }

    @Test func consumerRefusesBufferedReads() {
        let p = Page()
        p.set(read: 0, write: 2)
        p.put(0, dir: IOREQ_READ, sizeLog2: 0, addr: 0x60, data: 0)
        p.put(1, sizeLog2: 0, addr: 0x61, data: 0x42)
        let (entries, faults) = p.drain()
        #expect(entries == [BufferedIoreq(type: UInt8(IOREQ_TYPE_COPY), address: 0x61, size: 1, data: 0x42)])
        #expect(faults == [.bufferedRead(type: UInt8(IOREQ_TYPE_COPY), address: 0x60)])
    }

    @Test func consumerHandlesPointerWrapAt32Bits() {
        let p = Page()
        let start = UInt32.max - 1
        p.set(read: start, write: start &+ 3)
        for k in UInt32(0)..<3 { p.put(start &+ k, sizeLog2: 0, addr: 0xa0000 + k, data: k) }
        let (entries, _) = p.drain()
        #expect(entries.map(\.data) == [0, 1, 2])
        #expect(p.page.pointee.read_pointer == 1)
    }
}
