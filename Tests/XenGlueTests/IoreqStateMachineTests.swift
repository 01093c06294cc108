import CXen
import DeviceModel
import Testing
@testable import XenGlue
import XenSimulation

/// Synchronous ioreqs through the per-vCPU slots, one request type at a time, driven by
/// the simulated hypervisor exactly as Xen issues them.
@Suite struct IoreqStateMachineTests {
    @Test func attachRegistersAsXenExpects() throws {
        let d = try XenTestDomain()
        // One enabled server, its ranges claimed, the toolstack told we run.
        #expect(d.xen.serverIDs == [d.server.id])
        #expect(d.xen.claimedRanges(server: d.server.id, kind: .port) == [0x60...0x6f])
        #expect(d.xen.claimedRanges(server: d.server.id, kind: .memory) == [0xa_0000...0xb_ffff, 0xfe00_0000...0xfe00_0fff])
        #expect(d.xen.claimedRanges(server: d.server.id, kind: .pci) == [UInt64(XenTestDomain.pciFunction.sbdf)...UInt64(XenTestDomain.pciFunction.sbdf)])
        #expect(d.xen.store["/local/domain/0/device-model/7/state"] == "running")
        #expect(d.server.vcpuCount == 2)
        #expect(d.server.eventPort(vcpu: 0) != d.server.eventPort(vcpu: 1))
    }

    @Test func portReadAndWrite() throws {
        let d = try XenTestDomain()
        try d.pio(write: 0xbeef, to: 0x62, size: 2)
        #expect(try d.pio(read: 0x62, size: 2) == 0xbeef)
        #expect(try d.pio(read: 0x63, size: 1) == 0xbe)
        // A write's data beyond its size is ignored (QEMU masks it too).
        try d.pio(write: 0xffff_ff11, to: 0x60, size: 1)
        #expect(try d.pio(read: 0x60, size: 4) == 0xbeef_0011)
        #expect(d.ports.log.map(\.description) == ["W2@2=0xbeef", "R2@2=0xbeef", "R1@3=0xbe", "W1@0=0x11", "R4@0=0xbeef0011"])
        #expect(d.server.statistics.portIO == 5)
        #expect(d.faults.isEmpty)
    }

    @Test func slotReturnsToNoneWithPortAndStatePreserved() throws {
        let d = try XenTestDomain()
        _ = try d.pio(vcpu: 1, read: 0x60, size: 4)
        // After the round trip Xen left the slot NONE; the next request on the same vCPU
        // must be accepted (Xen refuses to send into a busy slot).
        for i in 0..<50 { try d.pio(vcpu: 1, write: UInt64(i), to: 0x64, size: 4) }
        #expect(try d.pio(vcpu: 1, read: 0x64, size: 4) == 49)
    }

    @Test func mmioCopyReadAndWrite() throws {
        let d = try XenTestDomain()
        try d.xen.send(vcpu: 0, SimulatedIoreq(type: SimulatedIoreq.copy, address: XenTestDomain.mmioBase + 0x10, data: 0x1122_3344_5566_7788, size: 8, isRead: false))
        let v = try d.xen.send(vcpu: 0, SimulatedIoreq(type: SimulatedIoreq.copy, address: XenTestDomain.mmioBase + 0x14, size: 4, isRead: true))
        #expect(v == 0x1122_3344)
        #expect(d.server.statistics.memory == 2)
    }

    @Test func mmioThroughGuestAccessPath() throws {
        let d = try XenTestDomain()
        var w = IORequest.write(.memory, XenTestDomain.mmioBase + 0x20, size: 4, value: 0xcafe_f00d)
        try d.xen.emulate(vcpu: 1, &w)
        var r = IORequest.read(.memory, XenTestDomain.mmioBase + 0x20, size: 2)
        try d.xen.emulate(vcpu: 0, &r)
        #expect(r.value == 0xf00d)
        // Unclaimed MMIO never reaches us: Xen's null handler answers all ones.
        var u = IORequest.read(.memory, 0xfe10_0000, size: 4)
        try d.xen.emulate(vcpu: 0, &u)
        #expect(u.value == 0xffff_ffff)
        #expect(d.xen.unclaimedAccesses == 1)
    }

    @Test func repOutsFromGuestBuffer() throws {
        // rep outsw: 4 words from guest RAM at 0x2000 to port 0x66.
        let d = try XenTestDomain()
        try d.ram.memory.writeBytes([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08], at: 0x2000)
        try d.xen.send(vcpu: 0, SimulatedIoreq(type: SimulatedIoreq.pio, address: 0x66, data: 0x2000, size: 2, count: 4, isRead: false, dataIsPointer: true))
        #expect(d.ports.log.map(\.value) == [0x0201, 0x0403, 0x0605, 0x0807])
        #expect(d.ports.log.allSatisfy { $0.offset == 6 && $0.write })
    }

    @Test func repInsIntoGuestBufferWithDirectionFlag() throws {
        // rep insb with DF=1: 3 bytes stored at 0x3002, 0x3001, 0x3000.
        let d = try XenTestDomain()
        d.ports.preset([0xaa], at: 5)
        try d.xen.send(vcpu: 0, SimulatedIoreq(type: SimulatedIoreq.pio, address: 0x65, data: 0x3002, size: 1, count: 3, isRead: true, dataIsPointer: true, decrementing: true))
        #expect(try d.ram.memory.readBytes(at: 0x2fff, count: 5) == [0x00, 0xaa, 0xaa, 0xaa, 0x00])
        #expect(d.ports.log.count == 3)
    }

    @Test func repMovsMemoryToMMIOWithDirectionFlag() throws {
        // rep movsd, DF=1, 3 dwords: MMIO 0x108, 0x104, 0x100 written from RAM 0x4008, 0x4004, 0x4000.
        let d = try XenTestDomain()
        for i in 0..<3 { try d.ram.memory.write(UInt32(0x1000 + i), at: 0x4000 + UInt64(i * 4)) }
        try d.xen.send(vcpu: 1, SimulatedIoreq(type: SimulatedIoreq.copy, address: XenTestDomain.mmioBase + 0x108, data: 0x4008, size: 4, count: 3, isRead: false, dataIsPointer: true, decrementing: true))
        #expect(d.mmio.log.map(\.offset) == [0x108, 0x104, 0x100])
        #expect(d.mmio.log.map(\.value) == [0x1002, 0x1001, 0x1000])
    }

    @Test func repMovsMMIOToMemoryAscending() throws {
        let d = try XenTestDomain()
        d.mmio.preset(Array(0..<16), at: 0x200)
        try d.xen.send(vcpu: 0, SimulatedIoreq(type: SimulatedIoreq.copy, address: XenTestDomain.mmioBase + 0x200, data: 0x10_0000, size: 8, count: 2, isRead: true, dataIsPointer: true))
        #expect(try d.ram.memory.readBytes(at: 0x10_0000, count: 16) == Array(0..<16))
    }

    @Test func repStosValueToMMIO() throws {
        // rep stosw without a guest buffer: the same value `count` times at ascending addresses.
        let d = try XenTestDomain()
        try d.xen.send(vcpu: 0, SimulatedIoreq(type: SimulatedIoreq.copy, address: XenTestDomain.mmioBase + 0x300, data: 0x5a5a, size: 2, count: 4, isRead: false))
        #expect(d.mmio.bytes(at: 0x300, count: 10) == [0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0, 0])
    }

    @Test func repThroughGuestAccessPathUsesDataIsPtr() throws {
        let d = try XenTestDomain()
        try d.ram.memory.writeBytes([9, 8, 7, 6], at: 0x5000)
        var r = IORequest(space: .port, address: 0x61, size: 1, direction: .write, data: .guestBuffer(0x5000), count: 4)
        try d.xen.emulate(vcpu: 0, &r)
        #expect(d.ports.log.map(\.value) == [9, 8, 7, 6])
    }

    @Test func stringIOFromHostBufferIsSentElementwise() throws {
        // KVM-style string I/O (data in the exit page, not guest RAM).
        let d = try XenTestDomain()
        var buffer: [UInt8] = [0x10, 0x20, 0x30, 0x40]
        try buffer.withUnsafeMutableBytes { raw throws in
            var w = IORequest(space: .port, address: 0x68, size: 2, direction: .write, data: .hostBuffer(raw.baseAddress!), count: 2)
            try d.xen.emulate(vcpu: 0, &w)
        }
        #expect(d.ports.log.map(\.value) == [0x2010, 0x4030])
        var out = [UInt8](repeating: 0, count: 4)
        try out.withUnsafeMutableBytes { raw throws in
            var r = IORequest(space: .port, address: 0x68, size: 2, direction: .read, data: .hostBuffer(raw.baseAddress!), count: 2)
            try d.xen.emulate(vcpu: 1, &r)
        }
        #expect(out == [0x30, 0x40, 0x30, 0x40])
    }

    @Test func invalidateDropsTheMappingCache() throws {
        let d = try XenTestDomain()
        try d.ram.memory.write(UInt8(0x77), at: 0x6000)
        try d.xen.send(vcpu: 0, SimulatedIoreq(type: SimulatedIoreq.pio, address: 0x60, data: 0x6000, size: 1, isRead: false, dataIsPointer: true))
        #expect(d.server.guestMemory.cachedBucketCount == 1)
        try d.xen.broadcastInvalidate(vcpu: 1)
        #expect(d.server.guestMemory.cachedBucketCount == 0)
        #expect(d.server.statistics.invalidate == 1)
        // The next buffer access maps afresh.
        try d.xen.send(vcpu: 0, SimulatedIoreq(type: SimulatedIoreq.pio, address: 0x60, data: 0x6000, size: 1, isRead: false, dataIsPointer: true))
        #expect(d.server.guestMemory.statistics.misses == 2)
        #expect(d.ports.bytes(at: 0, count: 1) == [0x77])
    }

    @Test func timeOffsetAccumulates() throws {
        let d = try XenTestDomain()
        // Synchronous form (as a raw slot request) and Xen's buffered broadcast.
        try d.xen.send(vcpu: 0, SimulatedIoreq(type: SimulatedIoreq.timeOffset, address: 0, data: UInt64(bitPattern: 3600), size: 8, isRead: false))
        try d.xen.sendTimeOffset(-600)
        _ = try d.pio(read: 0x60, size: 1) // drains the ring first
        #expect(d.server.guestTimeOffsetSeconds == 3000)
        #expect(d.server.statistics.timeOffset == 2)
    }

    @Test func unsupportedTypeAnswersAllOnesAndReportsAFault() throws {
        let d = try XenTestDomain()
        let v = try d.xen.send(vcpu: 0, SimulatedIoreq(type: 5, address: 0x60, size: 4, isRead: true))
        #expect(v == UInt64.max)
        #expect(d.faults == [.unsupportedType(vcpu: 0, type: 5)])
        // The slot is usable afterwards.
        #expect(try d.pio(read: 0x60, size: 1) == 0)
    }

    @Test func malformedSizeIsAnsweredNotTrusted() throws {
        let d = try XenTestDomain()
        // A 3-byte access: refused by the core, answered with all ones of that width.
        let v = try d.xen.send(vcpu: 0, SimulatedIoreq(type: SimulatedIoreq.pio, address: 0x60, size: 3, isRead: true))
        #expect(v == 0xff_ffff)
        let zeroCount = try d.xen.send(vcpu: 0, SimulatedIoreq(type: SimulatedIoreq.pio, address: 0x60, size: 1, count: 0, isRead: true))
        #expect(zeroCount == 0xff)
        // More repetitions than Xen ever sends (it splits at page boundaries).
        let huge = try d.xen.send(vcpu: 0, SimulatedIoreq(type: SimulatedIoreq.copy, address: XenTestDomain.mmioBase, data: 1, size: 1, count: 4_000_000_000, isRead: false))
        #expect(huge == 1)
        #expect(d.mmio.log.isEmpty)
        #expect(d.faults.count == 3)
        #expect(d.ports.log.isEmpty)
    }

    @Test func concurrentVCPUsEachGetTheirOwnAnswer() async throws {
        let d = try XenTestDomain(vcpus: 4)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for vcpu in 0..<4 {
                group.addTask {
                    for i in 0..<100 {
                        let value = UInt64(vcpu << 8 | i)
                        try d.xen.send(vcpu: vcpu, SimulatedIoreq(type: SimulatedIoreq.copy, address: XenTestDomain.mmioBase + UInt64(vcpu * 8), data: value, size: 8, isRead: false))
                        let back = try d.xen.send(vcpu: vcpu, SimulatedIoreq(type: SimulatedIoreq.copy, address: XenTestDomain.mmioBase + UInt64(vcpu * 8), size: 8, isRead: true))
                        #expect(back == value)
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(d.server.statistics.memory == 800)
    }
}
