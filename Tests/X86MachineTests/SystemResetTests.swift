import DeviceModel
import Testing

@testable import X86Machine

/// ``X86LegacyDevices/systemReset()``: every platform device back to its power-on registers with
/// its interrupt outputs low, while what survives a PC's reset survives — CMOS RAM and the
/// real-time clock, host input the UART had no room for.
@Suite struct SystemResetTests {
    let com1: UInt64 = 0x3F8

    @Test func platformDevicesReturnToPowerOn() throws {
        let fresh = try LegacyMachine()
        let m = try LegacyMachine()
        let d = m.dispatcher
        // UART: divisor, FIFOs, line settings, interrupts; more input than the FIFO holds.
        d.outb(com1 + 3, 0x80)
        d.outb(com1 + 0, 0x01)
        d.outb(com1 + 3, 0x03)
        d.outb(com1 + 2, 0x01)   // FIFOs on, trigger 1
        d.outb(com1 + 1, 0x01)   // receive-data interrupt
        d.outb(com1 + 4, 0x0B)
        d.outb(com1 + 7, 0x5A)
        m.devices.uart.enqueueInput(Array("0123456789abcdefXYZ".utf8))
        #expect(m.line[4]?.isAsserted == true)
        // CMOS: an NVRAM byte, the shutdown status, and register B with interrupts enabled.
        d.outb(0x70, 0x40)
        d.outb(0x71, 0x07)
        d.outb(0x70, 0x0F)
        d.outb(0x71, 0x0A)
        d.outb(0x70, 0x0B)
        d.outb(0x71, 0x02 | 0x04 | 0x40 | 0x20 | 0x10)  // 24 h, binary, PIE, AIE, UIE
        let seconds = m.devices.cmos.byte(at: 0x00)
        // i8042: a command byte and a reply waiting in the output buffer.
        d.outb(0x64, 0x60)
        d.outb(0x60, 0x45)
        d.outb(0x64, 0xAA)       // self-test: 0x55 queued
        #expect(d.inb(0x64) & 1 == 1)
        // ACPI PM: power button pressed and enabled, SCI up.
        d.outw(0x602, 0x0100)
        m.devices.powerManagement.pressPowerButton()
        #expect(m.line[9]?.isAsserted == true)
        // Port 0x92 and 0xCF9.
        d.outb(0x92, 0x00)
        d.outb(0xCF9, 0x02)

        m.devices.systemReset()

        #expect(m.line[4]?.isAsserted == false && m.line[9]?.isAsserted == false && m.line[1]?.isAsserted == false)
        for offset: UInt64 in [1, 2, 3, 4, 6, 7] {
            #expect(d.inb(com1 + offset) == fresh.dispatcher.inb(com1 + offset), "UART register \(offset)")
        }
        d.outb(com1 + 3, 0x80)
        #expect(d.inb(com1 + 0) == 0x0C && d.inb(com1 + 1) == 0, "the power-on divisor")
        d.outb(com1 + 3, 0x03)
        var received: [UInt8] = []
        while d.inb(com1 + 5) & 1 == 1 { received.append(d.inb(com1)) }
        #expect(received == Array("XYZ".utf8), "the 16 bytes in the FIFO went with it; the backlog stayed")

        d.outb(0x70, 0x40)
        #expect(d.inb(0x71) == 0x07, "CMOS RAM survives")
        d.outb(0x70, 0x0F)
        #expect(d.inb(0x71) == 0x0A, "the shutdown status survives for the firmware to read")
        d.outb(0x70, 0x0B)
        #expect(d.inb(0x71) == 0x02 | 0x04, "PIE, AIE and UIE cleared; the data mode stays")
        #expect(m.devices.cmos.byte(at: 0x00) == seconds, "the clock keeps its time")

        #expect(d.inb(0x64) & 1 == 0, "the output buffer is empty")
        d.outb(0x64, 0x20)
        #expect(d.inb(0x60) == fresh.devices.keyboardController.commandByte)
        #expect(m.devices.keyboardController.a20Enabled)

        #expect(d.inw(0x600) & 0x0100 == 0 && d.inw(0x602) == 0 && d.inw(0x604) == fresh.dispatcher.inw(0x604))
        #expect(d.inb(0x92) == fresh.dispatcher.inb(0x92))
        #expect(d.inb(0xCF9) == 0)
        #expect(m.recorder.events.isEmpty, "a reset raises no machine event of its own")
    }

    @Test func firmwareConfigRewinds() throws {
        let fw = try FirmwareConfig(cpuCount: 1, files: [.init(name: "etc/test", bytes: [1, 2, 3])])
        fw.write(at: 0, size: 2, value: UInt64(FirmwareConfig.firstFileKey))
        _ = fw.read(at: 1, size: 1)
        fw.systemReset()
        let signature = (0..<4).map { _ in UInt8(fw.read(at: 1, size: 1)) }
        #expect(signature == Array("QEMU".utf8), "item 0 from its start")
    }
}
