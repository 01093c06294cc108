import DeviceModel
import Testing

@testable import X86Machine

@Suite struct CMOSTests {
    func read(_ m: LegacyMachine, _ index: UInt8) -> UInt8 {
        m.dispatcher.outb(0x70, index)
        return m.dispatcher.inb(0x71)
    }

    func write(_ m: LegacyMachine, _ index: UInt8, _ value: UInt8) {
        m.dispatcher.outb(0x70, index)
        m.dispatcher.outb(0x71, value)
    }

    /// What SeaBIOS's `qemu_preinit` computes as RAM below 4 GiB from the CMOS.
    func seabiosRamSize(_ m: LegacyMachine) -> UInt64 {
        let ext2 = UInt64(read(m, 0x34)) << 16 | UInt64(read(m, 0x35)) << 24
        if ext2 != 0 { return ext2 + 16 << 20 }
        return (UInt64(read(m, 0x30)) << 10 | UInt64(read(m, 0x31)) << 18) + 1 << 20
    }

    @Test func memoryFieldsFor512MiB() throws {
        let m = try LegacyMachine(ramSize: 512 << 20, cpus: 2)
        #expect(UInt16(read(m, 0x15)) | UInt16(read(m, 0x16)) << 8 == 640)
        #expect(UInt16(read(m, 0x17)) | UInt16(read(m, 0x18)) << 8 == 65535, "extended KiB saturates")
        #expect(UInt16(read(m, 0x30)) | UInt16(read(m, 0x31)) << 8 == 65535)
        #expect(UInt16(read(m, 0x34)) | UInt16(read(m, 0x35)) << 8 == UInt16((512 - 16) * 16))
        #expect(read(m, 0x5B) == 0 && read(m, 0x5C) == 0 && read(m, 0x5D) == 0)
        #expect(read(m, 0x5F) == 1, "CPU count - 1")
        #expect(seabiosRamSize(m) == 512 << 20)
    }

    @Test func memoryFieldsFor6GiB() throws {
        let m = try LegacyMachine(ramSize: 6 << 30, cpus: 4)
        // 3 GiB below the hole at 0xC0000000, 3 GiB above 4 GiB.
        #expect(UInt16(read(m, 0x34)) | UInt16(read(m, 0x35)) << 8 == UInt16((3072 - 16) * 16))
        let high = UInt32(read(m, 0x5B)) | UInt32(read(m, 0x5C)) << 8 | UInt32(read(m, 0x5D)) << 16
        #expect(UInt64(high) * 65536 == 3 << 30)
        #expect(read(m, 0x5F) == 3)
        #expect(seabiosRamSize(m) == 3 << 30)
    }

    @Test func smallMemoryFields() {
        let f = Dictionary(uniqueKeysWithValues: CMOS.memorySizeFields(ramBelow4GiB: 8 << 20, ramAbove4GiB: 0).map { ($0.index, $0.value) })
        #expect(UInt16(f[0x17]!) | UInt16(f[0x18]!) << 8 == 7 * 1024)
        #expect(f[0x34] == 0 && f[0x35] == 0)
    }

    @Test func checksumCoversConfigurationBytes() throws {
        let m = try LegacyMachine()
        var sum: UInt16 = 0
        for i: UInt8 in 0x10...0x2D { sum &+= UInt16(read(m, i)) }
        #expect(UInt16(read(m, 0x2E)) << 8 | UInt16(read(m, 0x2F)) == sum)
    }

    @Test func clockReadsHostTimeInBCDAndBinary() throws {
        // 2023-11-14 22:13:20 UTC, a Tuesday.
        let m = try LegacyMachine(clock: ManualClock(realtimeSeconds: 1_700_000_000))
        #expect(read(m, 0x0B) == 0x02, "BCD, 24-hour")
        #expect(read(m, 0x00) == 0x20)
        #expect(read(m, 0x02) == 0x13)
        #expect(read(m, 0x04) == 0x22)
        #expect(read(m, 0x06) == 3, "Tuesday")
        #expect(read(m, 0x07) == 0x14)
        #expect(read(m, 0x08) == 0x11)
        #expect(read(m, 0x09) == 0x23)
        #expect(read(m, 0x32) == 0x20)
        write(m, 0x0B, 0x06)  // binary, 24-hour
        #expect(read(m, 0x04) == 22)
        #expect(read(m, 0x09) == 23)
        write(m, 0x0B, 0x04)  // binary, 12-hour: 10 PM
        #expect(read(m, 0x04) == 0x80 | 10)
        write(m, 0x0B, 0x00)  // BCD, 12-hour
        #expect(read(m, 0x04) == 0x80 | 0x10)
        m.clock.advance(nanoseconds: 5_000_000_000)
        write(m, 0x0B, 0x02)
        #expect(read(m, 0x00) == 0x25)
    }

    @Test func guestSetTimeSticksAndKeepsRunning() throws {
        let m = try LegacyMachine(clock: ManualClock(realtimeSeconds: 1_700_000_000))
        write(m, 0x0B, 0x82)  // SET, 24h, BCD
        write(m, 0x09, 0x99)
        write(m, 0x32, 0x19)
        write(m, 0x08, 0x12)
        write(m, 0x07, 0x31)
        write(m, 0x04, 0x23)
        write(m, 0x02, 0x59)
        write(m, 0x00, 0x58)
        m.clock.advance(nanoseconds: 3_000_000_000)
        #expect(read(m, 0x00) == 0x58, "frozen while SET")
        write(m, 0x0B, 0x02)
        m.clock.advance(nanoseconds: 2_000_000_000)
        // 1999-12-31 23:59:58 + 2 s = 2000-01-01 00:00:00, a Saturday.
        #expect(read(m, 0x00) == 0x00)
        #expect(read(m, 0x04) == 0x00)
        #expect(read(m, 0x07) == 0x01)
        #expect(read(m, 0x08) == 0x01)
        #expect(read(m, 0x09) == 0x00)
        #expect(read(m, 0x32) == 0x20)
        #expect(read(m, 0x06) == 7)
    }

    @Test func garbageTimeWritesStayDefined() throws {
        let m = try LegacyMachine()
        for index: UInt8 in [0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32] {
            write(m, index, 0xFF)
            for r: UInt8 in [0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32] { _ = read(m, r) }
        }
        write(m, 0x0B, 0x06)
        write(m, 0x32, 0xFF)
        write(m, 0x08, 0)
        write(m, 0x07, 0)
        #expect(read(m, 0x08) >= 1 && read(m, 0x08) <= 12)
    }

    @Test func statusRegisters() throws {
        let clock = ManualClock(realtimeSeconds: 1_700_000_000)
        let m = try LegacyMachine(clock: clock)
        #expect(read(m, 0x0D) == 0x80, "valid RAM and time")
        #expect(read(m, 0x0A) & 0x80 == 0, "no update at the start of a second")
        clock.advance(nanoseconds: 999_900_000)
        #expect(read(m, 0x0A) & 0x80 == 0x80, "UIP in the last 244 µs")
        #expect(read(m, 0x0A) & 0x7F == 0x26)
        _ = read(m, 0x0C)
        #expect(read(m, 0x0C) == 0)
        clock.advance(nanoseconds: 200_000)
        #expect(read(m, 0x0C) & 0x10 == 0x10, "update-ended after a second boundary")
        #expect(read(m, 0x0C) == 0, "cleared by reading")
        write(m, 0x0B, 0x92)  // SET | UIE
        #expect(read(m, 0x0B) == 0x82, "SET clears UIE")
    }

    @Test func indexPortMasksNMIBitAndNVRAMIsWritable() throws {
        let m = try LegacyMachine()
        m.dispatcher.outb(0x70, 0x80 | 0x40)
        m.dispatcher.outb(0x71, 0x5A)
        #expect(m.devices.cmos.nmiDisabled)
        #expect(read(m, 0x40) == 0x5A)
        #expect(!m.devices.cmos.nmiDisabled)
        #expect(m.dispatcher.inb(0x70) == 0xFF)
        // outw 0x70 writes the index then the data byte.
        m.dispatcher.outw(0x70, 0x3C41)
        #expect(read(m, 0x41) == 0x3C)
    }

    @Test func calendarArithmetic() {
        #expect(CalendarTime(secondsSinceEpoch: 0) == CalendarTime(year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 0))
        #expect(CalendarTime(secondsSinceEpoch: 951_782_400).month == 2, "2000-02-29 exists")
        #expect(CalendarTime(secondsSinceEpoch: 951_782_400).day == 29)
        let t = CalendarTime(year: 2024, month: 13, day: 1, hour: 0, minute: 0, second: 0)
        #expect(CalendarTime(secondsSinceEpoch: t.secondsSinceEpoch) == CalendarTime(year: 2025, month: 1, day: 1, hour: 0, minute: 0, second: 0))
        #expect(CalendarTime(secondsSinceEpoch: -1).year == 1969)
    }
}
