import DeviceModel
import Machine
import Testing

/// Where a served (Xen) machine puts its devices: never on the HVM platform's slots.
@Suite struct PCISlotListTests {
    @Test func listsAndRangesInOrder() throws {
        #expect(try PCISlotList(parsing: "4-7,9", option: "--slots").slots == [4, 5, 6, 7, 9])
        #expect(try PCISlotList(parsing: "31", option: "--slots").slots == [31])
        #expect(PCISlotList.afterXenfvPlatform.slots == Array(4..<32))
        #expect(PCISlotList.afterXenfvPlatform.description.hasPrefix("4,5,6"))
    }

    @Test(arguments: [
        ("1", "slot 1 holds the Xen HVM platform"),
        ("3-5", "slot 3 holds the Xen HVM platform"),
        ("7-5", "slot numbers 0–31"),
        ("32", "slot numbers 0–31"),
        ("x", "slot numbers 0–31"),
        ("", "slot numbers 0–31"),
        ("4-", "slot numbers 0–31"),
        ("5,5", "each slot once"),
    ])
    func badListsAreRefusedWithTheValue(text: String, expected: String) {
        #expect {
            try PCISlotList(parsing: text, option: "--slots")
        } throws: { error in
            "\(error)".contains(expected) && "\(error)".contains("--slots")
        }
    }

    /// Two devices on a served machine land after the platform's slots (they used to take
    /// 00:00.0 and 00:01.0, where hvmloader expects the host bridge and the PIIX3).
    @Test func servedDevicesSkipThePlatformSlots() throws {
        let server = try FakeIORequestServer()
        let machine = try IOServerMachine(server: server, devices: [.entropy(EntropyDeviceSpec()), .entropy(EntropyDeviceSpec())])
        defer { machine.stop() }
        #expect(machine.attachments.map(\.pciAddress) == [PCIAddress(device: 4), PCIAddress(device: 5)])
    }
}
