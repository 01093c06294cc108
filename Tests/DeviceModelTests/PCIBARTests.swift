import DeviceModel
import Testing

@Suite("PCI BARs")
struct PCIBARTests {
    /// The guest's sizing protocol on one BAR register: save, write all ones, read, restore.
    private func size(_ c: PCIConfigSpace, bar: Int) -> UInt32 {
        let offset = 0x10 + 4 * bar
        let saved = c.read(at: offset, size: 4)
        c.guestWrite(at: offset, size: 4, value: 0xFFFF_FFFF)
        let mask = c.read(at: offset, size: 4)
        c.guestWrite(at: offset, size: 4, value: saved)
        return mask
    }

    @Test func sizing32BitMemoryBAR() throws {
        let c = PCIConfigSpace(vendorID: 0x1AF4, deviceID: 0x1000, classCode: .other)
        try c.addBAR(.memory32(size: 0x1000), at: 0)
        #expect(c.read(at: 0x10, size: 4) == 0)  // type 00b, not prefetchable, unassigned
        #expect(size(c, bar: 0) == 0xFFFF_F000)
        c.guestWrite(at: 0x10, size: 4, value: 0xFEBF_1234)  // low bits are read-only
        #expect(c.read(at: 0x10, size: 4) == 0xFEBF_1000)
        #expect(c.barAddress(0) == 0xFEBF_1000)
    }

    @Test func sizing64BitPrefetchableMemoryBAR() throws {
        let c = PCIConfigSpace(vendorID: 0x1AF4, deviceID: 0x1000, classCode: .other)
        try c.addBAR(.memory64(size: 0x4000, prefetchable: true), at: 2)
        #expect(c.read(at: 0x18, size: 4) == 0xC)  // type 10b | prefetchable
        #expect(size(c, bar: 2) == 0xFFFF_C00C)
        #expect(size(c, bar: 3) == 0xFFFF_FFFF)  // upper half: all address bits
        // A BAR larger than 4 GiB: the low register has no writable address bits.
        let big = PCIConfigSpace(vendorID: 0x1AF4, deviceID: 0x1000, classCode: .other)
        try big.addBAR(.memory64(size: 1 << 34, prefetchable: true), at: 0)
        #expect(size(big, bar: 0) == 0x0000_000C)
        #expect(size(big, bar: 1) == 0xFFFF_FFFC)
        // Linux's combined size: ~(hi:lo & ~0xF) + 1.
        let combined = UInt64(size(big, bar: 1)) << 32 | UInt64(size(big, bar: 0) & ~0xF)
        #expect(~combined &+ 1 == 1 << 34)
        c.guestWrite(at: 0x18, size: 4, value: 0xE000_0000)
        c.guestWrite(at: 0x1C, size: 4, value: 0x0000_0008)
        #expect(c.barAddress(2) == 0x8_E000_0000)
        #expect(c.bar(3) == nil)  // the upper half is not a BAR of its own
    }

    @Test func sizingIOBAR() throws {
        let c = PCIConfigSpace(vendorID: 0x1AF4, deviceID: 0x1000, classCode: .other)
        try c.addBAR(.io(size: 0x40), at: 5)
        #expect(c.read(at: 0x24, size: 4) == 0x1)
        #expect(size(c, bar: 5) == 0xFFFF_FFC1)
        c.guestWrite(at: 0x24, size: 4, value: 0xC07F)
        #expect(c.read(at: 0x24, size: 4) == 0xC041)
        #expect(c.barAddress(5) == 0xC040)
    }

    @Test func undefinedBARsAndExpansionROMReadZero() throws {
        let c = PCIConfigSpace(vendorID: 0x1AF4, deviceID: 0x1000, classCode: .other)
        try c.addBAR(.io(size: 0x20), at: 0)
        #expect(size(c, bar: 1) == 0)
        c.guestWrite(at: 0x30, size: 4, value: 0xFFFF_FFFF)
        #expect(c.read(at: 0x30, size: 4) == 0)
    }

    @Test func invalidBARDefinitions() throws {
        #expect(throws: PCIError.invalidBARSize(kind: .memory32(prefetchable: false), size: 0x1800)) {
            try PCIBAR.memory32(size: 0x1800)
        }
        #expect(throws: PCIError.invalidBARSize(kind: .io, size: 512)) { try PCIBAR.io(size: 512) }
        #expect(throws: PCIError.invalidBARSize(kind: .memory32(prefetchable: false), size: 8)) {
            try PCIBAR.memory32(size: 8)
        }
        #expect(throws: PCIError.invalidBARSize(kind: .memory32(prefetchable: true), size: 1 << 32)) {
            try PCIBAR.memory32(size: 1 << 32, prefetchable: true)
        }
        let c = PCIConfigSpace(vendorID: 0x1AF4, deviceID: 0x1000, classCode: .other)
        #expect(throws: PCIError.invalidBARIndex(5)) { try c.addBAR(.memory64(size: 0x1000), at: 5) }
        #expect(throws: PCIError.invalidBARIndex(6)) { try c.addBAR(.io(size: 4), at: 6) }
        try c.addBAR(.memory64(size: 0x1000), at: 0)
        #expect(throws: PCIError.barInUse(1)) { try c.addBAR(.io(size: 4), at: 1) }
        try c.addBAR(.io(size: 4), at: 3)
        #expect(throws: PCIError.barInUse(3)) { try c.addBAR(.memory64(size: 0x1000), at: 2) }
    }

    @Test func decodingFollowsCommandRegister() throws {
        let c = PCIConfigSpace(vendorID: 0x1AF4, deviceID: 0x1000, classCode: .other)
        try c.addBAR(.io(size: 0x20), at: 0)
        try c.addBAR(.memory32(size: 0x1000), at: 1)
        c.guestWrite(at: 0x10, size: 4, value: 0xC000)
        c.guestWrite(at: 0x14, size: 4, value: 0xFEB0_0000)
        #expect(c.decodedBARs().isEmpty)
        c.guestWrite(at: 4, size: 2, value: UInt32(PCICommand.ioSpace.rawValue))
        #expect(c.decodedBARs().map(\.bar) == [0])
        c.guestWrite(at: 4, size: 2, value: UInt32(PCICommand.memorySpace.rawValue))
        #expect(c.decodedBARs().map(\.bar) == [1])
        #expect(c.decodedBARs().first?.range == AddressRange(base: 0xFEB0_0000, length: 0x1000))
        #expect(c.decodedBARs().first?.space == .memory)
    }

    @Test func busMapsMovesAndUnmapsBARsInTheDispatcher() throws {
        let machine = try PCITestMachine()
        let (dispatcher, bus) = (machine.dispatcher, machine.bus)
        let f = TestPCIFunction()
        try f.configSpace.addBAR(.memory64(size: 0x1000, prefetchable: true), at: 0)
        try f.configSpace.addBAR(.io(size: 0x20), at: 2)
        try bus.attach(f, device: 3)

        // Program both BARs with decoding off: nothing mapped yet.
        try conf1Write(dispatcher, device: 3, register: 0x10, size: 4, value: 0xFEB0_0000)
        try conf1Write(dispatcher, device: 3, register: 0x14, size: 4, value: 0)
        try conf1Write(dispatcher, device: 3, register: 0x18, size: 4, value: 0xC040)
        #expect(dispatcher.memory.entries.isEmpty)
        #expect(dispatcher.ports.lookup(0xC040) == nil)

        // Enable memory and I/O decode: both appear.
        try conf1Write(dispatcher, device: 3, register: 0x04, size: 2, value: 0x3)
        #expect(bus.mappings(device: 3, function: 0).map(\.bar) == [0, 2])
        #expect(dispatcher.memory.lookup(0xFEB0_0800)?.range == AddressRange(base: 0xFEB0_0000, length: 0x1000))
        #expect(dispatcher.ports.lookup(0xC05F)?.range == AddressRange(base: 0xC040, length: 0x20))

        // Accesses reach the function's BAR handler with BAR-relative offsets.
        try pciWrite(dispatcher, .memory, 0xFEB0_0010, size: 4, value: 0xDEAD_BEEF)
        #expect(f.readBAR(0, offset: 0x10, size: 4) == 0xDEAD_BEEF)
        #expect(try pciRead(dispatcher, .memory, 0xFEB0_0012, size: 2) == 0xDEAD)
        try pciWrite(dispatcher, .port, 0xC044, size: 1, value: 0x5A)
        #expect(f.readBAR(2, offset: 4, size: 1) == 0x5A)

        // Remap the 64-bit BAR above 4 GiB: the old range goes, the new one serves.
        try conf1Write(dispatcher, device: 3, register: 0x14, size: 4, value: 0x1)
        #expect(dispatcher.memory.lookup(0xFEB0_0000) == nil)
        #expect(try pciRead(dispatcher, .memory, 0x1_FEB0_0010, size: 4) == 0xDEAD_BEEF)
        try conf1Write(dispatcher, device: 3, register: 0x10, size: 4, value: 0xE000_0000)
        #expect(dispatcher.memory.entries.map(\.range) == [AddressRange(base: 0x1_E000_0000, length: 0x1000)!])
        #expect(try pciRead(dispatcher, .memory, 0xFEB0_0010, size: 4) == 0xFFFF_FFFF)

        // Disable memory decode: unmapped; I/O stays.
        try conf1Write(dispatcher, device: 3, register: 0x04, size: 2, value: 0x1)
        #expect(dispatcher.memory.entries.isEmpty)
        #expect(dispatcher.ports.lookup(0xC040) != nil)
        #expect(bus.mappings(device: 3, function: 0).map(\.bar) == [2])

        // The observer saw each change, in order.
        let changes = f.mappingChanges.map { "\($0.0):\($0.1.map { "\($0.range.base)" } ?? "-")" }
        #expect(changes == [
            "0:\(0xFEB0_0000)", "2:\(0xC040)", "0:\(0x1_FEB0_0000)", "0:\(0x1_E000_0000)", "0:-",
        ])
    }

    @Test func overlappingBARIsLeftUnmappedWithoutCrashing() throws {
        let machine = try PCITestMachine()
        let (dispatcher, bus) = (machine.dispatcher, machine.bus)
        let a = TestPCIFunction()
        let b = TestPCIFunction()
        try a.configSpace.addBAR(.memory32(size: 0x1000), at: 0)
        try b.configSpace.addBAR(.memory32(size: 0x2000), at: 0)
        try bus.attach(a, device: 1)
        try bus.attach(b, device: 2)
        for (device, base) in [(UInt8(1), UInt64(0xFEB0_1000)), (2, 0xFEB0_0000)] {
            try conf1Write(dispatcher, device: device, register: 0x10, size: 4, value: base)
            try conf1Write(dispatcher, device: device, register: 0x04, size: 2, value: 0x2)
        }
        // b's 8 KiB would cover a's page: refused, logged, left unmapped.
        #expect(bus.mappings(device: 1, function: 0).count == 1)
        #expect(bus.mappings(device: 2, function: 0).isEmpty)
        #expect(dispatcher.memory.lookup(0xFEB0_0000) == nil)
        // Once a moves away, reprogramming b maps it.
        try conf1Write(dispatcher, device: 1, register: 0x10, size: 4, value: 0xFEC0_0000)
        try conf1Write(dispatcher, device: 2, register: 0x10, size: 4, value: 0xFEB0_0000)
        #expect(bus.mappings(device: 2, function: 0).first?.range == AddressRange(base: 0xFEB0_0000, length: 0x2000))
    }

    @Test func ioBARBeyond64KiBAndAddressZeroStayUnmapped() throws {
        let machine = try PCITestMachine()
        let (dispatcher, bus) = (machine.dispatcher, machine.bus)
        let f = TestPCIFunction()
        try f.configSpace.addBAR(.io(size: 0x100), at: 0)
        try bus.attach(f, device: 4)
        try conf1Write(dispatcher, device: 4, register: 0x04, size: 2, value: 0x1)
        #expect(bus.mappings(device: 4, function: 0).isEmpty)  // address 0: unassigned
        // Sizing with decode on: all ones is beyond the 64 KiB port space.
        try conf1Write(dispatcher, device: 4, register: 0x10, size: 4, value: 0xFFFF_FFFF)
        #expect(bus.mappings(device: 4, function: 0).isEmpty)
        try conf1Write(dispatcher, device: 4, register: 0x10, size: 4, value: 0xFF00)
        #expect(bus.mappings(device: 4, function: 0).first?.range == AddressRange(base: 0xFF00, length: 0x100))
    }
}
