import DeviceModel
import Testing

/// ``PCIBus/systemReset()``: every function's configuration space back to its state at attach
/// (what the guest wrote is gone, what the device built stays), BARs unmapped, MSI-X disabled
/// with every vector masked and nothing pending, INTx low; the host bridge forgets
/// CONFIG_ADDRESS and its chipset registers.
@Suite struct PCISystemResetTests {
    typealias Fixture = PCIMSIXTests.Fixture

    @Test func functionsReturnToTheirStateAtAttach() throws {
        let f = try Fixture()
        let d = f.machine.dispatcher
        try f.program(0, data: 0x41, masked: false)
        try f.program(1, data: 0x42, masked: true)
        try f.setControl(enable: true, functionMask: false)
        try f.msix.notify(vector: 1)  // masked: pending
        try conf1Write(d, device: 5, register: 0x3C, size: 1, value: 11)  // interrupt line
        try conf1Write(d, device: 5, register: 0x0C, size: 1, value: 0x10)  // cache line size
        #expect(f.machine.bus.mappings(device: 5, function: 0).count == 1)
        let identity = try conf1Read(d, device: 5, register: 0, size: 4)

        f.machine.bus.systemReset()

        #expect(try conf1Read(d, device: 5, register: 0, size: 4) == identity, "the device's identity stays")
        #expect(try conf1Read(d, device: 5, register: 0x04, size: 2) == 0, "no decoding, no bus mastering")
        #expect(try conf1Read(d, device: 5, register: 0x14, size: 4) == 0, "BAR 1 unassigned")
        #expect(try conf1Read(d, device: 5, register: 0x3C, size: 1) == 0)
        #expect(try conf1Read(d, device: 5, register: 0x0C, size: 1) == 0)
        #expect(f.machine.bus.mappings(device: 5, function: 0).isEmpty)
        #expect(f.function.mappingChanges.last.map { $0.0 == 1 && $0.1 == nil } == true, "the function heard its BAR go")
        #expect(try f.control() == 3, "MSI-X disabled and unmasked, table size kept")
        #expect(!f.msix.isEnabled && !f.msix.isFunctionMasked)
        for v in 0..<4 {
            #expect(f.msix.entry(v)?.masked == true && f.msix.entry(v)?.message.data == 0, "vector \(v)")
            #expect(!f.msix.isPending(v), "vector \(v)")
        }
        #expect(try f.msix.notify(vector: 0) == .disabled)

        // The guest sets it up again as after power-on, and it works.
        try conf1Write(d, device: 5, register: 0x14, size: 4, value: PCIMSIXTests.barBase)
        try conf1Write(d, device: 5, register: 0x04, size: 2, value: 0x6)
        try f.program(0, data: 0x51, masked: false)
        try f.setControl(enable: true, functionMask: false)
        #expect(try f.msix.notify(vector: 0) == .delivered)
        #expect(f.controller.messages.last?.data == 0x51)
    }

    @Test func intxGoesLowWhenTheDeviceNoLongerAsksForIt() throws {
        let m = try PCITestMachine()
        let function = TestPCIFunction()
        function.configSpace.interruptPin = .intA
        try m.bus.attach(function, device: 3)
        function.configSpace.setINTxLevel(true)
        try conf1Write(m.dispatcher, device: 3, register: 0x04, size: 2, value: 0x0400)  // interrupt disable
        #expect(!function.configSpace.isINTxAsserted)
        m.bus.systemReset()
        #expect(function.configSpace.isINTxAsserted, "interrupt disable is cleared: the device's level shows again")
        function.configSpace.setINTxLevel(false)
        #expect(!function.configSpace.isINTxAsserted)
    }

    @Test func hostBridgeForgetsConfigAddressAndChipsetRegisters() throws {
        let m = try PCITestMachine()
        let d = m.dispatcher
        try conf1Write(d, device: 0, register: 0x59, size: 1, value: 0x30)  // PAM0: BIOS area read/write
        #expect(try conf1Read(d, device: 0, register: 0x59, size: 1) == 0x30)
        m.bridge.configAddress = 0x8000_0800
        m.bus.systemReset()
        m.bridge.systemReset()
        #expect(m.bridge.configAddress == 0)
        #expect(try conf1Read(d, device: 0, register: 0x59, size: 1) == 0)
        #expect(try conf1Read(d, device: 0, register: 0x72, size: 1) == 0x02, "SMRAM keeps its read-only C_BASE_SEG")
        #expect(try conf1Read(d, device: 0, register: 0, size: 4) == 0x1237_8086)
    }

    @Test func q35ECAMWindowReturnsToWhereItWasBuilt() throws {
        let m = try PCITestMachine(model: .q35, ecam: PCIECAMWindow(base: 0xB000_0000))
        let d = m.dispatcher
        try conf1Write(d, device: 0, register: 0x60, size: 4, value: 0xE000_0005)  // 64 buses at 0xE0000000
        #expect(m.bridge.ecamWindow == (try PCIECAMWindow(base: 0xE000_0000, busCount: 64)))
        m.bus.systemReset()
        m.bridge.systemReset()
        #expect(m.bridge.ecamWindow == (try PCIECAMWindow(base: 0xB000_0000, busCount: 256)))
        #expect(try pciRead(d, .memory, 0xB000_0000, size: 4) == 0x29C0_8086)
    }
}
