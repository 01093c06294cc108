import DeviceModel
import Testing

/// A PCI function's configuration space and MSI-X state saved and loaded into a freshly
/// built function: BARs decode again where the guest put them, MSI-X entries, masks and
/// pending bits come back, and a record for another device is refused.
@Suite struct PCIFunctionStateTests {
    typealias Fixture = PCIMSIXTests.Fixture

    @Test func configurationAndMSIXComeBackInAFreshFunction() throws {
        let a = try Fixture()
        try a.program(0, data: 0x41, masked: false)
        try a.program(2, data: 0x43, masked: true)
        try a.setControl(enable: true, functionMask: false)
        try a.function.configSpace.msix?.notify(vector: 2)  // masked: pending
        #expect(try a.pba() == 0b100)
        try conf1Write(a.machine.dispatcher, device: 5, register: 0x3C, size: 1, value: 11)  // interrupt line
        let record = try #require(a.machine.bus.saveFunctionState(device: 5, function: 0, id: "pci/00:05.0"))
        let bytes = DeviceStateArchive(records: [record]).encoded()

        let b = try Fixture(busMaster: false)
        try b.machine.bus.restoreFunctionState(try DeviceStateArchive(decoding: bytes).record("pci/00:05.0"), device: 5, function: 0)
        #expect(try conf1Read(b.machine.dispatcher, device: 5, register: 0x3C, size: 1) == 11)
        #expect(try conf1Read(b.machine.dispatcher, device: 5, register: 0x04, size: 2) & 0x6 == 0x6, "bus master restored")
        #expect(try b.control() & 0x8000 != 0, "MSI-X enabled")
        #expect(try b.pba() == 0b100, "the pending vector is still pending (read through the restored BAR)")
        try b.function.configSpace.msix?.notify(vector: 0)
        #expect(b.controller.messages.last?.data == 0x41)
        try b.mask(2, false)
        #expect(b.controller.messages.last?.data == 0x43, "unmasking delivers the pending vector")
        #expect(try b.pba() == 0)
    }

    @Test func aRecordOfAnotherFunctionIsRefused() throws {
        let a = try Fixture()
        var record = try #require(a.machine.bus.saveFunctionState(device: 5, function: 0, id: "pci/00:05.0"))
        var config = try record.bytes("config")
        config[0] ^= 0xFF  // vendor ID: read-only
        record.set("config", bytes: config)
        let b = try Fixture()
        #expect(throws: DeviceStateError.self) { try b.machine.bus.restoreFunctionState(record, device: 5, function: 0) }
        var short = try #require(a.machine.bus.saveFunctionState(device: 5, function: 0, id: "pci/00:05.0"))
        short.set("msix-table", array: [UInt64](repeating: 0, count: 3))
        #expect(throws: DeviceStateError.invalidValue(id: "pci/00:05.0", field: "msix-table", value: "3 elements", expected: "16 elements")) {
            try b.machine.bus.restoreFunctionState(short, device: 5, function: 0)
        }
        #expect(throws: DeviceStateError.self) { try b.machine.bus.restoreFunctionState(record, device: 9, function: 0) }
    }
}
