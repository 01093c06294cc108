import DeviceModel
import Synchronization
import Testing

@Suite("PCI host bridge and configuration mechanisms")
struct PCIHostBridgeTests {
    static let ecamBase: UInt64 = 0xB000_0000

    /// A function at 00:03.0 with recognisable bytes at 0x40–0x47 (writable at 0x44).
    private func attachTestFunction(_ m: PCITestMachine, extended: Bool = false) throws -> TestPCIFunction {
        let f = TestPCIFunction(vendorID: 0x1AF4, deviceID: 0x1042, extended: extended)
        f.configSpace.store(0x4433_2211, at: 0x40, size: 4)
        f.configSpace.setWritableMask(0xFFFF_FFFF, at: 0x44, size: 4)
        try m.bus.attach(f, device: 3)
        return f
    }

    @Test func hostBridgeIdentity() throws {
        let pc = try PCITestMachine(model: .i440fx)
        #expect(try conf1Read(pc.dispatcher, device: 0, register: 0, size: 4) == 0x1237_8086)
        #expect(try conf1Read(pc.dispatcher, device: 0, register: 8, size: 4) == 0x0600_0002)
        #expect(try conf1Read(pc.dispatcher, device: 0, register: 0x2C, size: 4) == 0x1100_1AF4)
        let q35 = try PCITestMachine(model: .q35, ecam: PCIECAMWindow(base: Self.ecamBase))
        #expect(try conf1Read(q35.dispatcher, device: 0, register: 0, size: 4) == 0x29C0_8086)
        #expect(try conf1Read(q35.dispatcher, device: 0, register: 0x0A, size: 2) == 0x0600)
        #expect(try pciRead(q35.dispatcher, .memory, Self.ecamBase, size: 4) == 0x29C0_8086)
        // PAM registers are storage the firmware can read back.
        try conf1Write(pc.dispatcher, device: 0, register: 0x59, size: 1, value: 0xFF)
        try conf1Write(pc.dispatcher, device: 0, register: 0x5A, size: 1, value: 0xFF)
        #expect(try conf1Read(pc.dispatcher, device: 0, register: 0x59, size: 1) == 0x30)
        #expect(try conf1Read(pc.dispatcher, device: 0, register: 0x5A, size: 1) == 0x33)
    }

    @Test func conf1AndECAMAccessesOfEveryWidthReachTheSameFunction() throws {
        let m = try PCITestMachine(model: .q35, ecam: PCIECAMWindow(base: Self.ecamBase))
        let f = try attachTestFunction(m)
        let d = m.dispatcher
        for register in 0x40..<0x48 {
            for size in [1, 2, 4] where (register & 3) + size <= 4 {
                let expected = UInt64(f.configSpace.read(at: register, size: size))
                #expect(try conf1Read(d, device: 3, register: register, size: size) == expected, "conf1 \(register) \(size)")
                let ecam = ecamAddress(Self.ecamBase, device: 3, register: register)
                #expect(try pciRead(d, .memory, ecam, size: size) == expected, "ECAM \(register) \(size)")
            }
        }
        // Writes of each width by either path land in the same register.
        try conf1Write(d, device: 3, register: 0x45, size: 1, value: 0xAA)
        #expect(f.configSpace.read(at: 0x44, size: 4) == 0x0000_AA00)
        try pciWrite(d, .memory, ecamAddress(Self.ecamBase, device: 3, register: 0x46), size: 2, value: 0xBBCC)
        #expect(f.configSpace.read(at: 0x44, size: 4) == 0xBBCC_AA00)
        try conf1Write(d, device: 3, register: 0x44, size: 4, value: 0x1234_5678)
        #expect(try pciRead(d, .memory, ecamAddress(Self.ecamBase, device: 3, register: 0x44), size: 4) == 0x1234_5678)
        try conf1Write(d, device: 3, register: 0x46, size: 2, value: 0xEEFF)
        #expect(try pciRead(d, .memory, ecamAddress(Self.ecamBase, device: 3, register: 0x44), size: 4) == 0xEEFF_5678)
        // An 8-byte ECAM access covers two dwords.
        #expect(try pciRead(d, .memory, ecamAddress(Self.ecamBase, device: 3, register: 0x40), size: 8) == 0xEEFF_5678_4433_2211)
    }

    @Test func xenStylePCIConfigRequestsReachTheSameFunction() throws {
        let m = try PCITestMachine()
        let f = try attachTestFunction(m)
        let sbdf = UInt64(PCIAddress(device: 3)!.sbdf)
        #expect(try pciRead(m.dispatcher, .pciConfig, sbdf << 32 | 0x00, size: 4) == 0x1042_1AF4)
        #expect(try pciRead(m.dispatcher, .pciConfig, sbdf << 32 | 0x41, size: 1) == 0x22)
        try pciWrite(m.dispatcher, .pciConfig, sbdf << 32 | 0x44, size: 2, value: 0x9988)
        #expect(f.configSpace.read(at: 0x44, size: 2) == 0x9988)
        let empty = UInt64(PCIAddress(device: 9)!.sbdf)
        #expect(try pciRead(m.dispatcher, .pciConfig, empty << 32, size: 4) == 0xFFFF_FFFF)
    }

    @Test func unpopulatedSlotsReadAllOnes() throws {
        let m = try PCITestMachine(model: .q35, ecam: PCIECAMWindow(base: Self.ecamBase))
        _ = try attachTestFunction(m)
        let d = m.dispatcher
        for size in [1, 2, 4] {
            let ones = UInt64(1) << UInt64(size * 8) - 1
            #expect(try conf1Read(d, device: 7, register: 0, size: size) == ones)
            #expect(try conf1Read(d, device: 3, function: 1, register: 0, size: size) == ones)
            #expect(try pciRead(d, .memory, ecamAddress(Self.ecamBase, device: 31, function: 7, register: 0), size: size) == ones)
            // Other buses have nothing (there are no bridges).
            #expect(try pciRead(d, .memory, Self.ecamBase + (1 << 20), size: size) == ones)
        }
        // Writes to empty slots go nowhere and do not disturb populated ones.
        try conf1Write(d, device: 7, register: 0x44, size: 4, value: 0xFFFF_FFFF)
        #expect(try conf1Read(d, device: 3, register: 0x44, size: 4) == 0)
        // A conventional function has nothing beyond 256 bytes; an extended one does.
        #expect(try pciRead(d, .memory, ecamAddress(Self.ecamBase, device: 3, register: 0x100), size: 4) == 0xFFFF_FFFF)
        let e = TestPCIFunction(extended: true)
        try m.bus.attach(e, device: 4)
        #expect(try pciRead(d, .memory, ecamAddress(Self.ecamBase, device: 4, register: 0x100), size: 4) == 0)
        // conf1 with the enable bit clear reads all ones.
        try pciWrite(d, .port, 0xCF8, size: 4, value: 0x0000_1800)
        #expect(try pciRead(d, .port, 0xCFC, size: 4) == 0xFFFF_FFFF)
    }

    @Test func configAddressRegister() throws {
        let m = try PCITestMachine()
        let d = m.dispatcher
        // Linux's pci_check_type1: write 0x80000000, read it back.
        try pciWrite(d, .port, 0xCF8, size: 4, value: 0x8000_0000)
        #expect(try pciRead(d, .port, 0xCF8, size: 4) == 0x8000_0000)
        // Reserved bits 30:24 and 1:0 read as zero.
        try pciWrite(d, .port, 0xCF8, size: 4, value: 0xFFFF_FFFF)
        #expect(try pciRead(d, .port, 0xCF8, size: 4) == 0x80FF_FFFC)
        // Narrow accesses do not touch CONFIG_ADDRESS.
        try pciWrite(d, .port, 0xCFB, size: 1, value: 0x01)
        try pciWrite(d, .port, 0xCF8, size: 2, value: 0)
        #expect(try pciRead(d, .port, 0xCF8, size: 4) == 0x80FF_FFFC)
        #expect(try pciRead(d, .port, 0xCFA, size: 2) == 0xFFFF)
        // A word at 0xCFE reaches register bytes 2–3.
        try pciWrite(d, .port, 0xCF8, size: 4, value: conf1Address(0, 0, 0))
        #expect(try pciRead(d, .port, 0xCFE, size: 2) == 0x1237)
        #expect(try pciRead(d, .port, 0xCFD, size: 1) == 0x80)
    }

    @Test func resetControlRegisterGetsPort0xCF9() throws {
        final class ResetControl: IOHandler {
            let writes = Mutex<[UInt64]>([])
            func read(at offset: UInt64, size: Int) -> UInt64 { 0 }
            func write(at offset: UInt64, size: Int, value: UInt64) { writes.withLock { $0.append(value) } }
        }
        let reset = ResetControl()
        let d = IODispatcher()
        let bus = try PCIBus(dispatcher: d)
        let bridge = try PCIHostBridge(bus: bus, model: .q35, resetControl: reset)
        try pciWrite(d, .port, 0xCF9, size: 1, value: 0x06)
        #expect(reset.writes.withLock { $0 } == [0x06])
        #expect(try pciRead(d, .port, 0xCF9, size: 1) == 0)
        #expect(bridge.ecamWindow == nil)
    }

    @Test func q35PCIEXBARMovesTheECAMWindowAsSeaBIOSProgramsIt() throws {
        let m = try PCITestMachine(model: .q35)
        let f = try attachTestFunction(m)
        let d = m.dispatcher
        #expect(m.bridge.ecamWindow == nil)
        #expect(try conf1Read(d, device: 0, register: 0x60, size: 4) == 0xB000_0000)  // reset value, disabled
        // SeaBIOS mch_mem_addr_setup: low dword 0, high dword, then low | enable.
        try conf1Write(d, device: 0, register: 0x60, size: 4, value: 0)
        try conf1Write(d, device: 0, register: 0x64, size: 4, value: 0)
        try conf1Write(d, device: 0, register: 0x60, size: 4, value: 0xB000_0001)
        #expect(m.bridge.ecamWindow == (try PCIECAMWindow(base: 0xB000_0000, busCount: 256)))
        #expect(try pciRead(d, .memory, ecamAddress(0xB000_0000, device: 3, register: 0x40), size: 4) == 0x4433_2211)
        // Move it to 0xE0000000 with a 64-bus length, through ECAM itself.
        try pciWrite(d, .memory, ecamAddress(0xB000_0000, device: 0, register: 0x60), size: 4, value: 0xE000_0005)
        #expect(m.bridge.ecamWindow == (try PCIECAMWindow(base: 0xE000_0000, busCount: 64)))
        #expect(try pciRead(d, .memory, 0xB000_0000, size: 4) == 0xFFFF_FFFF)
        #expect(try pciRead(d, .memory, ecamAddress(0xE000_0000, device: 3, register: 0), size: 4) == 0x1042_1AF4)
        // Disable: gone.
        try conf1Write(d, device: 0, register: 0x60, size: 4, value: 0xE000_0004)
        #expect(m.bridge.ecamWindow == nil)
        #expect(d.memory.entries.isEmpty)
        _ = f
    }

    @Test func ecamWindowValidation() throws {
        #expect(throws: PCIError.invalidECAMWindow(base: 0xB000_1000, busCount: 256)) {
            try PCIECAMWindow(base: 0xB000_1000)
        }
        #expect(throws: PCIError.invalidECAMWindow(base: 0, busCount: 0)) { try PCIECAMWindow(base: 0, busCount: 0) }
        let d = IODispatcher()
        let bus = try PCIBus(dispatcher: d)
        #expect(throws: PCIError.invalidECAMWindow(base: 0xB010_0000, busCount: 256)) {
            _ = try PCIHostBridge(bus: bus, model: .q35, ecam: PCIECAMWindow(base: 0xB010_0000))
        }
        // A failed bridge leaves nothing registered; a good one then fits.
        #expect(d.ports.entries.isEmpty)
        let bridge = try PCIHostBridge(bus: bus, model: .i440fx, ecam: PCIECAMWindow(base: 0xB010_0000, busCount: 1))
        #expect(bridge.ecamWindow?.length == 1 << 20)
        // A second bridge on the same ports is refused.
        let conf1 = try #require(AddressRange(base: 0xCF8, length: 8))
        #expect(throws: PCIError.registration(.overlap(new: conf1, existing: conf1, space: .port))) {
            _ = try PCIHostBridge(bus: bus, model: .i440fx)
        }
    }

    @Test func multiFunctionSlots() throws {
        let m = try PCITestMachine()
        let f0 = TestPCIFunction()
        let f2 = TestPCIFunction(deviceID: 0x1043)
        try m.bus.attach(f2, device: 6, function: 2)
        try m.bus.attach(f0, device: 6, function: 0)
        #expect(try conf1Read(m.dispatcher, device: 6, register: 0x0E, size: 1) == 0x80)
        #expect(try conf1Read(m.dispatcher, device: 6, function: 2, register: 2, size: 2) == 0x1043)
        #expect(throws: PCIError.slotOccupied(device: 6, function: 2)) { try m.bus.attach(TestPCIFunction(), device: 6, function: 2) }
        #expect(throws: PCIError.invalidAddress(device: 32, function: 0)) { try m.bus.attach(TestPCIFunction(), device: 32) }
        #expect(m.bus.firstFreeSlot == 1)
    }
}

@Suite("PCI lifetime")
struct PCILifetimeTests {
    @Test func droppingBusAndBridgeUnregistersEverything() throws {
        let d = IODispatcher()
        do {
            let bus = try PCIBus(dispatcher: d)
            let bridge = try PCIHostBridge(bus: bus, model: .q35, ecam: PCIECAMWindow(base: 0xB000_0000))
            let f = TestPCIFunction()
            try f.configSpace.addBAR(.memory32(size: 0x1000), at: 0)
            try bus.attach(f, device: 2)
            try conf1Write(d, device: 2, register: 0x10, size: 4, value: 0xFEB0_0000)
            try conf1Write(d, device: 2, register: 0x04, size: 2, value: 0x2)
            #expect(d.memory.entries.count == 2)
            #expect(d.ports.entries.count == 1)
            #expect(d.pciConfig.entries.count == 1)
            _ = bridge
        }
        #expect(d.memory.entries.isEmpty)
        #expect(d.ports.entries.isEmpty)
        #expect(d.pciConfig.entries.isEmpty)
        // A new machine can take the same places.
        let bus = try PCIBus(dispatcher: d)
        let bridge = try PCIHostBridge(bus: bus, model: .q35, ecam: PCIECAMWindow(base: 0xB000_0000))
        #expect(try conf1Read(d, device: 0, register: 0, size: 4) == 0x29C0_8086)
        _ = bridge
    }
}
