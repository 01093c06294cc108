import DeviceModel
import Testing

@testable import X86Machine

@Suite struct ResetAndPowerTests {
    @Test func i8042SelfTestCommandByteAndReset() throws {
        let m = try LegacyMachine()
        let d = m.dispatcher
        #expect(d.inb(0x64) & 0x01 == 0, "output buffer empty")
        d.outb(0x64, 0xAA)
        #expect(d.inb(0x64) & 0x05 == 0x05, "OBF and system flag")
        #expect(d.inb(0x60) == 0x55)
        d.outb(0x64, 0xAB)
        #expect(d.inb(0x60) == 0x00)
        d.outb(0x64, 0x20)
        let cb = d.inb(0x60)
        d.outb(0x64, 0x60)
        #expect(d.inb(0x64) & 0x08 == 0x08, "last write was a command")
        d.outb(0x60, cb | 0x10)
        d.outb(0x64, 0x20)
        #expect(d.inb(0x60) == cb | 0x10)
        #expect(m.recorder.events.isEmpty)
        d.outb(0x64, 0xFE)
        #expect(m.recorder.events == [.reset(.keyboardController)])
    }

    @Test func i8042OutputPortResetAndKeyboardReplies() throws {
        let m = try LegacyMachine()
        let d = m.dispatcher
        let irq1 = m.line[1]!
        d.outb(0x60, 0xFF)  // keyboard reset
        #expect(irq1.isAsserted, "keyboard data raises IRQ 1")
        #expect(d.inb(0x60) == 0xFA)
        #expect(d.inb(0x60) == 0xAA)
        #expect(!irq1.isAsserted)
        d.outb(0x60, 0xF2)
        #expect([d.inb(0x60), d.inb(0x60), d.inb(0x60)] == [0xFA, 0xAB, 0x41])
        d.outb(0x60, 0xED)
        d.outb(0x60, 0x07)
        #expect([d.inb(0x60), d.inb(0x60)] == [0xFA, 0xFA])
        d.outb(0x64, 0xD3)
        d.outb(0x60, 0x99)
        #expect(d.inb(0x64) & 0x21 == 0x21, "aux output buffer full")
        #expect(m.line[12]!.isAsserted)
        #expect(d.inb(0x60) == 0x99)
        d.outb(0x64, 0xD1)
        d.outb(0x60, 0x03)  // A20 on, reset line high: no reset
        #expect(m.recorder.events.isEmpty)
        d.outb(0x64, 0xD1)
        d.outb(0x60, 0x02)
        #expect(m.recorder.events == [.reset(.keyboardController)])
    }

    /// QEMU's pvpanic protocol: reads offer PANICKED and CRASH_LOADED; only PANICKED stops.
    @Test func pvpanicReportsAPanic() throws {
        let m = try LegacyMachine()
        let d = m.dispatcher
        #expect(d.inb(0x505) == 0x03)
        d.outb(0x505, 0x02)
        #expect(m.recorder.events.isEmpty, "a crash kernel taking over is not the end")
        d.outb(0x505, 0x01)
        #expect(m.recorder.events == [.guestPanic])
    }

    @Test func port92AndResetControl() throws {
        let m = try LegacyMachine()
        let d = m.dispatcher
        d.outb(0x92, d.inb(0x92) | 0x02)
        #expect(m.devices.systemControlPortA.a20Enabled)
        #expect(m.recorder.events.isEmpty)
        d.outb(0x92, 0x03)
        #expect(m.recorder.events == [.reset(.systemControlPortA)])
        #expect(d.inb(0x92) & 0x01 == 0)
        d.outb(0xCF9, 0x02)
        #expect(m.recorder.events.count == 1, "SYS_RST alone does not reset")
        #expect(d.inb(0xCF9) == 0x02)
        d.outb(0xCF9, ResetControlRegister.resetValue)
        #expect(m.recorder.events.last == .reset(.resetControlRegister))
    }

    @Test func pm1SoftOffRaisesPowerOff() throws {
        let m = try LegacyMachine()
        let d = m.dispatcher
        #expect(d.inw(0x604) & 0x0001 == 1, "SCI_EN: always in ACPI mode")
        d.outw(0x604, 5 << 10 | 0x2000)  // SLP_TYP 5 is not a declared state
        #expect(m.recorder.events.isEmpty)
        d.outw(0x604, 0 << 10)
        #expect(m.recorder.events.isEmpty, "SLP_TYP without SLP_EN")
        d.outw(0x604, UInt16(ACPIPowerManagement.softOffSleepType) << 10 | 0x2000)
        #expect(m.recorder.events == [.powerOff(.acpiSoftOff)])
        #expect(d.inw(0x604) & 0x2000 == 0, "SLP_EN is write-only")
    }

    @Test func pm1SoftOffWithByteWrites() throws {
        let m = try LegacyMachine()
        m.dispatcher.outb(0x604, 0)
        m.dispatcher.outb(0x605, 0x20)  // SLP_EN in the high byte
        #expect(m.recorder.events == [.powerOff(.acpiSoftOff)])
    }

    @Test func powerButtonRaisesSCIWhenEnabled() throws {
        let m = try LegacyMachine()
        let d = m.dispatcher
        let sci = m.line[9]!
        m.devices.powerManagement.pressPowerButton()
        #expect(d.inw(0x600) & 0x0100 == 0x0100)
        #expect(!sci.isAsserted, "PWRBTN_EN clear")
        d.outw(0x602, 0x0100)
        #expect(sci.isAsserted)
        d.outw(0x600, 0x0100)  // write 1 to clear
        #expect(d.inw(0x600) & 0x0100 == 0)
        #expect(!sci.isAsserted)
        #expect(d.inw(0x602) == 0x0100)
    }

    @Test func pmTimerCountsAt3_58MHz() throws {
        let m = try LegacyMachine()
        let d = m.dispatcher
        let t0 = d.inl(0x608)
        m.clock.advance(nanoseconds: 1_000_000_000)
        let t1 = d.inl(0x608)
        #expect((t1 &- t0) & 0xFF_FFFF == 3_579_545)
        #expect(t1 <= 0xFF_FFFF, "24-bit timer")
        #expect(d.inw(0x600) & 0x0001 == 0)
        m.clock.advance(nanoseconds: 2_400_000_000)  // past 2^23 ticks
        #expect(d.inw(0x600) & 0x0001 == 1, "TMR_STS after bit 23 flips")
        d.outw(0x600, 0x0001)
        #expect(d.inw(0x600) & 0x0001 == 0)
    }

    @Test func debugConsole() throws {
        let m = try LegacyMachine()
        #expect(m.dispatcher.inb(0x402) == 0xE9)
        m.dispatcher.outb(0x402, 0x41)
        #expect(m.recorder.bytes == [0x41])
    }
}

@Suite struct HostileAccessTests {
    /// Every handler answers any offset and size without trapping (the dispatcher already
    /// bounds them; direct callers might not).
    @Test func handlersTolerateAnyOffsetAndSize() throws {
        let m = try LegacyMachine()
        let d = m.devices
        let handlers: [any IOHandler] = [d.uart, d.cmos, d.keyboardController.dataPort, d.keyboardController.commandPort,
                                         d.systemControlPortA, d.resetControl, d.powerManagement, try #require(d.debugConsole)]
        for h in handlers {
            for offset: UInt64 in [0, 1, 7, 11, 12, 0xFFFF, .max - 8, .max] {
                for size in [0, 1, 2, 4, 8, 16] {
                    _ = h.read(at: offset, size: size)
                }
            }
        }
        // Writes that are not resets/power-offs by offset: out-of-range ones are dropped.
        d.powerManagement.write(at: .max, size: 8, value: .max)
        d.uart.write(at: .max - 3, size: 4, value: 0)
        #expect(m.recorder.events.isEmpty)
    }
}
