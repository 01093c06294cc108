import DeviceModel
import Testing

@testable import X86Machine

/// Platform devices' saved state: a guest-visible round trip into a fresh machine, and
/// archives that are damaged, foreign or hostile refused with one clear error.
@Suite struct DeviceStateTests {
    let com1: UInt64 = 0x3F8

    /// Every platform device of `m`, by id.
    func save(_ m: LegacyMachine) -> DeviceStateArchive {
        DeviceStateArchive(records: [
            m.devices.uart.saveState(id: "isa/com1"), m.devices.cmos.saveState(id: "isa/cmos"),
            m.devices.keyboardController.saveState(id: "isa/i8042"), m.devices.powerManagement.saveState(id: "isa/acpi-pm"),
        ])
    }

    func restore(_ archive: DeviceStateArchive, into m: LegacyMachine) throws {
        try m.devices.uart.restoreState(archive.record("isa/com1"))
        try m.devices.cmos.restoreState(archive.record("isa/cmos"))
        try m.devices.keyboardController.restoreState(archive.record("isa/i8042"))
        try m.devices.powerManagement.restoreState(archive.record("isa/acpi-pm"))
    }

    @Test func platformStateSurvivesASaveAndARestoreIntoAFreshMachine() throws {
        let a = try LegacyMachine()
        a.dispatcher.outb(com1 + 3, 0x80)   // DLAB
        a.dispatcher.outb(com1 + 0, 0x01)
        a.dispatcher.outb(com1 + 3, 0x03)
        a.dispatcher.outb(com1 + 2, 0xC7)   // FIFOs, trigger 14
        a.dispatcher.outb(com1 + 1, 0x01)   // receive-data interrupt
        a.dispatcher.outb(com1 + 7, 0x5A)   // scratch
        a.devices.uart.enqueueInput(Array("typed ahead".utf8))
        a.dispatcher.outb(0x70, 0x30)       // CMOS NVRAM byte
        a.dispatcher.outb(0x71, 0xA5)
        a.dispatcher.outb(0x64, 0x60)       // i8042: write command byte
        a.dispatcher.outb(0x60, 0x45)
        a.dispatcher.outw(0x602, 0x0100)    // PM1 enable: power button
        a.devices.powerManagement.pressPowerButton()
        #expect(a.line[9]?.isAsserted == true)

        let bytes = save(a).encoded()
        let b = try LegacyMachine()
        try restore(try DeviceStateArchive(decoding: bytes), into: b)

        #expect(b.line[4]?.isAsserted == true, "the UART's receive interrupt is raised again")
        #expect(b.line[9]?.isAsserted == true, "the SCI follows the restored status and enable bits")
        b.dispatcher.outb(com1 + 3, 0x83)
        #expect(b.dispatcher.inb(com1 + 0) == 0x01)
        b.dispatcher.outb(com1 + 3, 0x03)
        #expect(b.dispatcher.inb(com1 + 7) == 0x5A)
        var received: [UInt8] = []
        while b.dispatcher.inb(com1 + 5) & 1 == 1 { received.append(b.dispatcher.inb(com1)) }
        #expect(received == Array("typed ahead".utf8), "FIFO and backlog come back in order")
        b.dispatcher.outb(0x70, 0x30)
        #expect(b.dispatcher.inb(0x71) == 0xA5)
        b.dispatcher.outb(0x64, 0x20)
        #expect(b.dispatcher.inb(0x60) == 0x45)
        #expect(b.dispatcher.inw(0x600) & 0x0100 != 0)
        // And the archive is stable: saving the restored machine gives the same records.
        #expect(save(b).records.map(\.id) == save(a).records.map(\.id))
    }

    @Test func damagedArchivesAreRefusedWithOneLine() throws {
        let m = try LegacyMachine()
        let good = save(m).encoded()
        #expect(throws: DeviceStateError.truncated(offset: good.count - 10, needed: 10)) {
            try DeviceStateArchive(decoding: Array(good.dropLast(10)))
        }
        var flipped = good
        flipped[good.count / 2] ^= 0x40
        #expect {
            try DeviceStateArchive(decoding: flipped)
        } throws: { error in
            guard case .checksumMismatch = error as? DeviceStateError else { return false }
            return "\(error)".hasPrefix("device state is damaged: checksum 0x")
        }
        var future = good
        future[8] = 2
        #expect(throws: DeviceStateError.unsupportedFormat(version: 2)) { try DeviceStateArchive(decoding: future) }
        #expect(throws: DeviceStateError.notASnapshot) { try DeviceStateArchive(decoding: Array("not a snapshot at all".utf8)) }
        #expect(throws: DeviceStateError.trailingBytes(count: 1)) {
            var longer = good
            longer.append(0)
            _ = try DeviceStateArchive(decoding: longer)
        }
        #expect((try? DeviceStateArchive(decoding: good)) == save(m))
    }

    /// Records that parse but describe impossible devices: a restore checks every value and
    /// leaves the device as it was.
    @Test func impossibleValuesAreRefusedAndTheDeviceIsUnchanged() throws {
        let m = try LegacyMachine()
        var uart = m.devices.uart.saveState(id: "isa/com1")
        uart.set("trigger-level", UInt8(3))
        #expect(throws: DeviceStateError.invalidValue(id: "isa/com1", field: "trigger-level", value: "3", expected: "1, 4, 8 or 14")) {
            try m.devices.uart.restoreState(uart)
        }
        uart = m.devices.uart.saveState(id: "isa/com1")
        uart.set("rx-fifo", bytes: [UInt8](repeating: 0x41, count: 64))
        #expect(throws: DeviceStateError.self) { try m.devices.uart.restoreState(uart) }
        #expect(m.dispatcher.inb(com1 + 5) & 1 == 0, "nothing was received")

        var cmos = m.devices.cmos.saveState(id: "isa/cmos")
        cmos.set("ram", bytes: [1, 2, 3])
        #expect(throws: DeviceStateError.invalidValue(id: "isa/cmos", field: "ram", value: "3 bytes", expected: "128 bytes")) {
            try m.devices.cmos.restoreState(cmos)
        }
        var kbd = m.devices.keyboardController.saveState(id: "isa/i8042")
        kbd.set("scan-code-set", .string("two"))
        #expect(throws: DeviceStateError.wrongType(id: "isa/i8042", field: "scan-code-set", expected: "an unsigned integer")) {
            try m.devices.keyboardController.restoreState(kbd)
        }
        let pm = m.devices.powerManagement.saveState(id: "isa/acpi-pm")
        #expect(throws: DeviceStateError.wrongKind(id: "isa/acpi-pm", expected: "i8042", found: "acpi-pm1")) {
            try m.devices.keyboardController.restoreState(pm)
        }
        var newer = pm
        newer.version = 9
        #expect(throws: DeviceStateError.unsupportedVersion(id: "isa/acpi-pm", kind: "acpi-pm1", version: 9, supported: 1...1)) {
            try m.devices.powerManagement.restoreState(newer)
        }
        var missing = DeviceStateRecord(id: "isa/cmos", kind: "mc146818-cmos", version: 1)
        missing.set("index", UInt8(0))
        #expect(throws: DeviceStateError.missingField(id: "isa/cmos", field: "nmi-disabled")) { try m.devices.cmos.restoreState(missing) }
    }

    /// Random bytes after a valid header and random mutations of a valid archive never crash
    /// the parser.
    @Test func randomDamageNeverCrashes() throws {
        let good = save(try LegacyMachine()).encoded()
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            var b = good
            for _ in 0..<Int.random(in: 1...8, using: &rng) { b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            if Bool.random(using: &rng) { b = Array(b.prefix(Int.random(in: 0...b.count, using: &rng))) }
            _ = try? DeviceStateArchive(decoding: b)
        }
    }
}
