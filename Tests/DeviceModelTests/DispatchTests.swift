import DeviceModel
import DeviceModelTesting
import Dispatch
import Testing

@Suite("Address-space dispatch")
struct DispatchTests {
    @Test func straddlingAccessReadsAllOnesDropsWritesAndCounts() throws {
        let machine = try SimulatedMachine()
        let device = RecordingIOHandler(length: 0x10)
        try machine.dispatcher.memory.register(base: 0x1000, length: 0x10, name: "dev", handler: device)

        // 4 bytes at 0x100E run two bytes past the end of the range.
        #expect(try machine.vcpu.read(.memory, 0x100E, size: 4) == 0xFFFF_FFFF)
        #expect(machine.dispatcher.straddlingAccesses == 1)
        try machine.vcpu.write(.memory, 0x100E, size: 4, value: 0x1234_5678)
        #expect(machine.dispatcher.straddlingAccesses == 2)
        #expect(device.accesses.count == 0, "a straddling access must not reach the handler")
        #expect(device.peek(at: 0xE, size: 2) == 0)
        #expect(machine.dispatcher.unmappedAccesses == 0)

        // The last bytes inside the range are fine.
        try machine.vcpu.write(.memory, 0x100E, size: 2, value: 0xBEEF)
        #expect(try machine.vcpu.read(.memory, 0x100C, size: 4) == 0xBEEF_0000)
        #expect(machine.dispatcher.straddlingAccesses == 2)
    }

    @Test func straddleBetweenTwoAdjacentRangesReachesNeither() throws {
        let machine = try SimulatedMachine()
        let low = RecordingIOHandler(length: 0x10)
        let high = RecordingIOHandler(length: 0x10)
        try machine.dispatcher.ports.register(base: 0x70, length: 0x10, name: "low", handler: low)
        try machine.dispatcher.ports.register(base: 0x80, length: 0x10, name: "high", handler: high)
        #expect(try machine.vcpu.read(.port, 0x7E, size: 4) == 0xFFFF_FFFF)
        try machine.vcpu.write(.port, 0x7F, size: 2, value: 0)
        #expect(low.accesses.count == 0)
        #expect(high.accesses.count == 0)
        #expect(machine.dispatcher.straddlingAccesses == 2)
    }

    @Test(arguments: [(1, UInt64(0xFF)), (2, 0xFFFF), (4, 0xFFFF_FFFF), (8, UInt64.max)])
    func unmappedReadsReturnAllOnesOfTheAccessSize(size: Int, expected: UInt64) throws {
        let machine = try SimulatedMachine()
        #expect(try machine.vcpu.read(.memory, 0xDEAD_0000, size: size) == expected)
        #expect(try machine.vcpu.read(.port, 0x1234, size: size) == expected)
        #expect(try machine.vcpu.read(.pciConfig, UInt64(0x0010) << 32, size: size) == expected)
        try machine.vcpu.write(.memory, 0xDEAD_0000, size: size, value: 0)
        #expect(machine.dispatcher.unmappedAccesses == 4)
        #expect(machine.dispatcher.straddlingAccesses == 0)
    }

    @Test func unmappedRepeatedReadFillsTheBufferWithOnes() throws {
        let machine = try SimulatedMachine()
        let buffer = try machine.allocator.allocate(8)
        try machine.vcpu.readString(.port, 0x500, size: 2, count: 3, toGuest: buffer.address)
        #expect(try machine.memory.readBytes(at: buffer.address, count: 8) == [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0])
        #expect(try machine.vcpu.readString(.port, 0x500, size: 1, count: 2) == [0xFF, 0xFF])
        #expect(machine.dispatcher.unmappedAccesses == 5)
    }

    @Test func overlappingRegistrationsAreRejected() throws {
        let space = AddressSpace(space: .memory)
        let device = RecordingIOHandler(length: 0x100)
        try space.register(base: 0x1000, length: 0x100, name: "a", handler: device)
        let existing = try #require(AddressRange(base: 0x1000, length: 0x100))
        // Same base, overlapping the start, overlapping the end, inside, enclosing.
        let clashes: [(UInt64, UInt64)] = [(0x1000, 0x100), (0xF80, 0x81), (0x10FF, 0x10), (0x1040, 0x10), (0x0, 0x10000)]
        for (base, length) in clashes {
            let new = try #require(AddressRange(base: base, length: length))
            #expect(throws: AddressSpaceError.overlap(new: new, existing: existing, space: .memory)) {
                try space.register(base: base, length: length, name: "b", handler: device)
            }
        }
        #expect(space.entries.map(\.name) == ["a"])
    }

    @Test func adjacentRangesAreAcceptedAndDispatchToTheirOwnHandler() throws {
        let machine = try SimulatedMachine()
        let handlers = (0..<3).map { _ in RecordingIOHandler(length: 0x10) }
        // Registered out of order: middle, above, below.
        try machine.dispatcher.memory.register(base: 0x2010, length: 0x10, name: "mid", handler: handlers[1])
        try machine.dispatcher.memory.register(base: 0x2020, length: 0x10, name: "high", handler: handlers[2])
        try machine.dispatcher.memory.register(base: 0x2000, length: 0x10, name: "low", handler: handlers[0])
        #expect(machine.dispatcher.memory.entries.map(\.name) == ["low", "mid", "high"])

        try machine.vcpu.write(.memory, 0x200F, size: 1, value: 1)
        try machine.vcpu.write(.memory, 0x2010, size: 1, value: 2)
        try machine.vcpu.write(.memory, 0x202F, size: 1, value: 3)
        #expect(handlers[0].accesses.all == [IOAccess(offset: 0xF, size: 1, direction: .write, value: 1)])
        #expect(handlers[1].accesses.all == [IOAccess(offset: 0, size: 1, direction: .write, value: 2)])
        #expect(handlers[2].accesses.all == [IOAccess(offset: 0xF, size: 1, direction: .write, value: 3)])
        #expect(try machine.vcpu.read(.memory, 0x2030, size: 1) == 0xFF)
        #expect(try machine.vcpu.read(.memory, 0x1FFF, size: 1) == 0xFF)
    }

    @Test func unregisterRemovesTheRangeAndRejectsUnknownBases() throws {
        let machine = try SimulatedMachine()
        let device = RecordingIOHandler(length: 8)
        try machine.dispatcher.ports.register(base: 0xCF8, length: 8, name: "pci", handler: device)
        #expect(try machine.vcpu.read(.port, 0xCFC, size: 4) == 0)

        // Only the exact base identifies a registration.
        #expect(throws: AddressSpaceError.notRegistered(base: 0xCFC, space: .port)) {
            try machine.dispatcher.ports.unregister(base: 0xCFC)
        }
        try machine.dispatcher.ports.unregister(base: 0xCF8)
        #expect(try machine.vcpu.read(.port, 0xCFC, size: 4) == 0xFFFF_FFFF)
        #expect(machine.dispatcher.unmappedAccesses == 1)
        #expect(throws: AddressSpaceError.notRegistered(base: 0xCF8, space: .port)) {
            try machine.dispatcher.ports.unregister(base: 0xCF8)
        }
        // The space is free again.
        try machine.dispatcher.ports.register(base: 0xCF8, length: 4, name: "again", handler: device)
    }

    @Test func emptyOrWrappingRangesAreInvalid() throws {
        let space = AddressSpace(space: .memory)
        let device = RecordingIOHandler(length: 1)
        #expect(throws: AddressSpaceError.invalidRange(base: 0x1000, length: 0)) {
            try space.register(base: 0x1000, length: 0, name: "empty", handler: device)
        }
        #expect(throws: AddressSpaceError.invalidRange(base: .max, length: 2)) {
            try space.register(base: .max, length: 2, name: "wrap", handler: device)
        }
    }

    @Test func rangeAtTheTopOfTheAddressSpaceHasNoWrapAround() throws {
        let machine = try SimulatedMachine()
        let device = RecordingIOHandler(length: 0x10)
        try machine.dispatcher.memory.register(base: UInt64.max - 0xF, length: 0x10, name: "top", handler: device)
        try machine.vcpu.write(.memory, UInt64.max - 7, size: 8, value: 0x0102_0304_0506_0708)
        #expect(device.peek(at: 8, size: 8) == 0x0102_0304_0506_0708)
        #expect(try machine.vcpu.read(.memory, UInt64.max, size: 1) == 0x01)
        // Two bytes at the last address would wrap to 0.
        #expect(try machine.vcpu.read(.memory, UInt64.max, size: 2) == 0xFFFF)
        #expect(machine.dispatcher.straddlingAccesses == 1)
    }

    @Test func malformedRequestsThrowBeforeReachingAHandler() throws {
        let machine = try SimulatedMachine()
        let device = RecordingIOHandler(length: 0x10)
        try machine.dispatcher.memory.register(base: 0x1000, length: 0x10, name: "dev", handler: device)

        for size in [0, 3, 5, 16, -1] {
            #expect(throws: SimulationError.dispatch(.invalidSize(size))) {
                _ = try machine.vcpu.read(.memory, 0x1000, size: size)
            }
        }
        var zeroCount = IORequest(space: .memory, address: 0x1000, size: 4, direction: .write, count: 0)
        #expect(throws: IODispatchError.invalidCount(0)) { try machine.dispatcher.dispatch(&zeroCount) }
        var noMemory = IORequest(space: .memory, address: 0x1000, size: 4, direction: .read, data: .guestBuffer(0x2000))
        #expect(throws: IODispatchError.noGuestMemory) { try machine.dispatcher.dispatch(&noMemory) }
        #expect(device.accesses.count == 0)
    }

    @Test func badGuestBuffersAreRejectedBeforeAnyElementIsCarriedOut() throws {
        let machine = try SimulatedMachine(ram: [(0, 0x10000)])
        let fifo = CountingFIFO()
        try machine.dispatcher.ports.register(base: 0x60, length: 4, name: "fifo", handler: fifo)

        // The last element would land past the end of RAM: no read may be consumed.
        #expect(throws: SimulationError.dispatch(.badBuffer(.outOfRange(gpa: 0xFFF8, length: 16)))) {
            try machine.vcpu.readString(.port, 0x60, size: 4, count: 4, toGuest: 0xFFF8)
        }
        // Stepping down from 0x4 by 4 elements of 2 bytes underflows below 0.
        #expect(throws: SimulationError.dispatch(.badBuffer(.overflow(gpa: 0x4, length: 8)))) {
            try machine.vcpu.writeString(.port, 0x60, size: 2, count: 4, fromGuest: 0x4, decrementing: true)
        }
        // Stepping up past 2^64.
        #expect(throws: SimulationError.dispatch(.badBuffer(.overflow(gpa: .max - 3, length: 8)))) {
            try machine.vcpu.readString(.port, 0x60, size: 1, count: 8, toGuest: .max - 3)
        }
        #expect(fifo.accesses.count == 0)

        // Exactly fitting, downwards to address 0, works.
        try machine.vcpu.readString(.port, 0x60, size: 2, count: 3, toGuest: 0x4, decrementing: true)
        #expect(fifo.accesses.count == 3)
        #expect(try machine.memory.read(UInt16.self, at: 0x4) == 0x0010)
        #expect(try machine.memory.read(UInt16.self, at: 0x0) == 0x0212)
    }

    @Test func valuesAreMaskedToTheAccessSize() throws {
        let machine = try SimulatedMachine()
        let noisy = NoisyHandler()
        try machine.dispatcher.memory.register(base: 0x3000, length: 8, name: "noisy", handler: noisy)
        #expect(try machine.vcpu.read(.memory, 0x3000, size: 1) == 0x0D)
        #expect(try machine.vcpu.read(.memory, 0x3000, size: 2) == 0xF00D)
        #expect(try machine.vcpu.read(.memory, 0x3000, size: 4) == 0xCAFE_F00D)
        #expect(try machine.vcpu.read(.memory, 0x3000, size: 8) == 0xDEAD_BEEF_CAFE_F00D)
        try machine.vcpu.write(.memory, 0x3000, size: 2, value: 0x1234_5678)
        #expect(noisy.writes.all == [0x5678])
    }

    @Test func lookupFindsEveryRangeAmongMany() throws {
        let space = AddressSpace(space: .memory)
        let handlers = (0..<500).map { _ in RecordingIOHandler(length: 1) }
        // Ranges of 0x10 bytes every 0x40, registered in a scrambled order.
        for i in (0..<500).map({ ($0 * 257) % 500 }) {
            try space.register(base: UInt64(i) * 0x40, length: 0x10, name: "r\(i)", handler: handlers[i])
        }
        for i in 0..<500 {
            let base = UInt64(i) * 0x40
            #expect(space.lookup(base)?.handler === handlers[i])
            #expect(space.lookup(base + 0xF)?.handler === handlers[i])
            #expect(space.lookup(base + 0x10) == nil)
            #expect(space.lookup(base + 0x3F) == nil)
        }
    }

    /// vCPU threads dispatch while another thread keeps (un)registering a second range: every
    /// access to the stable range lands, none is lost or misrouted.
    @Test func concurrentDispatchWhileRemapping() async throws {
        let machine = try SimulatedMachine()
        let stable = CountingFIFO()
        let moving = RecordingIOHandler(length: 0x10)
        try machine.dispatcher.memory.register(base: 0x10_0000, length: 0x10, name: "stable", handler: stable)
        let perCPU = 2000
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<3 {
                let vcpu = machine.makeVCPU(index: index)
                group.addTask {
                    for _ in 0..<perCPU { _ = try? vcpu.write(.memory, 0x10_0004, size: 4, value: UInt64(index)) }
                }
            }
            group.addTask {
                for _ in 0..<perCPU {
                    try? machine.dispatcher.memory.register(base: 0x20_0000, length: 0x10, name: "bar", handler: moving)
                    try? machine.dispatcher.memory.unregister(base: 0x20_0000)
                }
            }
        }
        #expect(stable.accesses.count == 3 * perCPU)
        #expect(stable.accesses.all.allSatisfy { $0.offset == 4 && $0.direction == .write })
        #expect(machine.dispatcher.unmappedAccesses == 0)
    }
}
