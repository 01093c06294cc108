import DeviceModel
import Testing

@Suite("PCI INTx")
struct PCIINTxTests {
    private func function(pin: PCIInterruptPin) -> TestPCIFunction {
        let f = TestPCIFunction()
        f.configSpace.interruptPin = pin
        return f
    }

    private func statusBit3(_ m: PCITestMachine, device: UInt8) throws -> Bool {
        try conf1Read(m.dispatcher, device: device, register: 0x06, size: 2) & 0x8 != 0
    }

    @Test func levelFollowsTheDeviceAndSetsInterruptStatus() throws {
        let m = try PCITestMachine()
        let f = function(pin: .intA)
        try m.bus.attach(f, device: 3)
        let line = m.lines.recording(19)  // (pin 1 - 1 + slot 3) % 4 = PIRQD → GSI 19
        #expect(try conf1Read(m.dispatcher, device: 3, register: 0x3D, size: 1) == 1)
        #expect(try !statusBit3(m, device: 3))

        f.configSpace.setINTxLevel(true)
        #expect(line.levels == [true])
        #expect(try statusBit3(m, device: 3))
        f.configSpace.setINTxLevel(true)  // still asserted: no new edge
        #expect(line.levels == [true])
        f.configSpace.setINTxLevel(false)
        #expect(line.levels == [true, false])
        #expect(try !statusBit3(m, device: 3))
    }

    @Test func interruptDisableBitSuppressesAssertion() throws {
        let m = try PCITestMachine()
        let f = function(pin: .intB)
        try m.bus.attach(f, device: 2)
        let line = m.lines.recording(19)  // (2 - 1 + 2) % 4 = 3

        f.configSpace.setINTxLevel(true)
        #expect(line.level)
        // Setting interrupt disable (command bit 10) drops the pin; the status bit stays.
        try conf1Write(m.dispatcher, device: 2, register: 0x04, size: 2, value: 0x0400)
        #expect(!line.level)
        #expect(try statusBit3(m, device: 2))
        #expect(!f.configSpace.isINTxAsserted)
        // Clearing it re-asserts the still-pending interrupt.
        try conf1Write(m.dispatcher, device: 2, register: 0x04, size: 2, value: 0)
        #expect(line.level)
        // Asserting while disabled never reaches the line.
        f.configSpace.setINTxLevel(false)
        try conf1Write(m.dispatcher, device: 2, register: 0x04, size: 2, value: 0x0400)
        f.configSpace.setINTxLevel(true)
        #expect(line.levels == [true, false, true, false])
        #expect(try statusBit3(m, device: 2))
    }

    @Test func sharedLinesAreWiredOR() throws {
        let m = try PCITestMachine()
        let a = function(pin: .intA)
        let b = function(pin: .intA)
        try m.bus.attach(a, device: 3)
        try m.bus.attach(b, device: 7)  // (0 + 7) % 4 = 3: the same GSI as slot 3
        let line = m.lines.recording(19)
        a.configSpace.setINTxLevel(true)
        b.configSpace.setINTxLevel(true)
        a.configSpace.setINTxLevel(false)
        #expect(line.level)  // b still holds it
        b.configSpace.setINTxLevel(false)
        #expect(line.levels == [true, false])
    }

    @Test func swizzleAndCustomRouting() throws {
        let m = try PCITestMachine()
        let cases: [(UInt8, UInt8, PCIInterruptPin, UInt32)] = [(1, 0, .intA, 17), (4, 0, .intA, 16), (4, 1, .intD, 19), (5, 0, .intB, 18)]
        for (slot, fn, pin, gsi) in cases {
            let f = function(pin: pin)
            try m.bus.attach(f, device: slot, function: fn)
            f.configSpace.setINTxLevel(true)
            #expect(m.lines.recording(gsi).level, "slot \(slot) \(pin) → GSI \(gsi)")
            f.configSpace.setINTxLevel(false)
        }
        // PIIX wiring (what SeaBIOS assumes on i440FX): PIRQ (pin - 1 + slot - 1) % 4 → IRQ 10/10/11/11.
        let lines = PCIFakeLineProvider()
        let piix = PCIINTxRouting { device, pin in [10, 10, 11, 11][(Int(pin.rawValue) - 1 + Int(device) + 3) % 4] }
        let bus = try PCIBus(dispatcher: IODispatcher(), interruptLines: lines, intxRouting: piix)
        let f = function(pin: .intA)
        try bus.attach(f, device: 3)
        f.configSpace.setINTxLevel(true)
        #expect(lines.recording(11).level)
    }

    @Test func msixEnabledSilencesINTx() throws {
        let m = try PCITestMachine()
        let f = function(pin: .intA)
        try f.configSpace.addBAR(.memory32(size: 0x1000), at: 0)
        _ = try f.configSpace.addMSIXCapability(
            vectorCount: 1, table: .init(bar: 0, offset: 0), pba: .init(bar: 0, offset: 0x800),
            controller: PCIFakeMSIController())
        let cap = try #require(f.configSpace.findCapability(MSIXCapability.capabilityID))
        try m.bus.attach(f, device: 3)
        let line = m.lines.recording(19)
        f.configSpace.setINTxLevel(true)
        #expect(line.level)
        try conf1Write(m.dispatcher, device: 3, register: cap + 2, size: 2, value: 0x8000)
        #expect(!line.level)
        try conf1Write(m.dispatcher, device: 3, register: cap + 2, size: 2, value: 0)
        #expect(line.level)
    }

    @Test func levelSetBeforeAttachIsReplayedAndNoPinMeansNoLine() throws {
        let m = try PCITestMachine()
        let f = function(pin: .intA)
        f.configSpace.setINTxLevel(true)
        try m.bus.attach(f, device: 3)
        #expect(m.lines.recording(19).levels == [true])
        // No pin: asserting only sets the status bit.
        let quiet = function(pin: .none)
        try m.bus.attach(quiet, device: 4)
        quiet.configSpace.setINTxLevel(true)
        #expect(try statusBit3(m, device: 4))
        #expect([16, 17, 18].allSatisfy { m.lines.recording($0).levels.isEmpty })
        // A bus without interrupt lines does not crash either.
        let bare = try PCIBus(dispatcher: IODispatcher())
        let g = function(pin: .intA)
        try bare.attach(g, device: 1)
        g.configSpace.setINTxLevel(true)
        #expect(g.configSpace.status.contains(.interruptStatus))
    }
}
