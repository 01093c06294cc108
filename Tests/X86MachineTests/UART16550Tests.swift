import DeviceModel
import Testing

@testable import X86Machine

@Suite struct UART16550Tests {
    let com1: UInt64 = 0x3F8

    @Test func transmitsToOutputAndReportsEmptyTransmitter() throws {
        let m = try LegacyMachine()
        for b in Array("hi\n".utf8) { m.dispatcher.outb(com1, b) }
        #expect(m.recorder.bytes == Array("hi\n".utf8))
        let lsr = m.dispatcher.inb(com1 + 5)
        #expect(lsr & 0x60 == 0x60, "THRE and TEMT set")
        #expect(lsr & 0x01 == 0, "no data ready")
    }

    @Test func divisorLatchIsSeparateFromDataAndIER() throws {
        let m = try LegacyMachine()
        m.dispatcher.outb(com1 + 1, 0x05)  // IER
        m.dispatcher.outb(com1 + 3, 0x80)  // DLAB
        m.dispatcher.outb(com1 + 0, 0x01)  // DLL = 1 (115200)
        m.dispatcher.outb(com1 + 1, 0x00)  // DLM
        #expect(m.dispatcher.inb(com1 + 0) == 0x01)
        #expect(m.dispatcher.inb(com1 + 1) == 0x00)
        m.dispatcher.outb(com1 + 3, 0x03)  // 8N1, DLAB off
        #expect(m.dispatcher.inb(com1 + 1) == 0x05, "IER unchanged by the divisor writes")
        #expect(m.recorder.bytes.isEmpty, "DLL writes are not transmitted")
        #expect(m.dispatcher.inb(com1 + 3) == 0x03)
    }

    @Test func loopbackEchoesIntoReceiveFIFOAndModemLines() throws {
        let m = try LegacyMachine()
        m.dispatcher.outb(com1 + 2, 0x07)  // enable + clear FIFOs
        m.dispatcher.outb(com1 + 4, 0x10)  // loopback
        _ = m.dispatcher.inb(com1 + 6)     // clear deltas
        for b: UInt8 in [0x41, 0x42, 0x43] { m.dispatcher.outb(com1, b) }
        #expect(m.recorder.bytes.isEmpty, "loopback does not reach the line")
        #expect(m.dispatcher.inb(com1 + 5) & 0x01 == 1)
        #expect([m.dispatcher.inb(com1), m.dispatcher.inb(com1), m.dispatcher.inb(com1)] == [0x41, 0x42, 0x43])
        #expect(m.dispatcher.inb(com1 + 5) & 0x01 == 0)

        // MCR DTR|RTS|OUT1|OUT2 in loopback shows up as DSR|CTS|RI|DCD with deltas.
        m.dispatcher.outb(com1 + 4, 0x1F)
        let msr = m.dispatcher.inb(com1 + 6)
        #expect(msr & 0xF0 == 0xF0)
        #expect(msr & 0x0B == 0x0B, "DCTS, DDSR, DDCD")
        #expect(m.dispatcher.inb(com1 + 6) & 0x0F == 0, "deltas clear on read")
        m.dispatcher.outb(com1 + 4, 0x1B)  // drop OUT1: trailing edge of RI
        #expect(m.dispatcher.inb(com1 + 6) & 0x04 == 0x04)

        // Leaving loopback shows the host side: CTS, DSR, DCD.
        m.dispatcher.outb(com1 + 4, 0x0B)
        #expect(m.dispatcher.inb(com1 + 6) & 0xF0 == 0xB0)
    }

    @Test func receiveFIFOHoldsSixteenBytesAndBacklogKeepsTheRest() throws {
        let m = try LegacyMachine()
        let uart = m.devices.uart
        m.dispatcher.outb(com1 + 2, 0xC7)  // FIFO on, trigger 14
        let input = (0..<40).map { UInt8($0) }
        #expect(uart.enqueueInput(input) == 40)
        var received: [UInt8] = []
        while m.dispatcher.inb(com1 + 5) & 0x01 != 0 { received.append(m.dispatcher.inb(com1)) }
        #expect(received == input, "every byte arrives, in order")
        #expect(m.dispatcher.inb(com1 + 5) & 0x02 == 0, "no overrun")
    }

    @Test func loopbackOverrunSetsOverrunError() throws {
        let m = try LegacyMachine()
        m.dispatcher.outb(com1 + 2, 0x01)  // FIFO on
        m.dispatcher.outb(com1 + 4, 0x10)
        for i in 0..<17 { m.dispatcher.outb(com1, UInt8(i)) }
        let lsr = m.dispatcher.inb(com1 + 5)
        #expect(lsr & 0x02 == 0x02, "OE after the 17th byte")
        #expect(m.dispatcher.inb(com1 + 5) & 0x02 == 0, "OE clears on LSR read")
        var n = 0
        while m.dispatcher.inb(com1 + 5) & 0x01 != 0 {
            _ = m.dispatcher.inb(com1)
            n += 1
        }
        #expect(n == 16)
    }

    @Test func fifoDisabledHoldsOneByte() throws {
        let m = try LegacyMachine()
        m.dispatcher.outb(com1 + 4, 0x10)
        m.dispatcher.outb(com1, 1)
        m.dispatcher.outb(com1, 2)
        #expect(m.dispatcher.inb(com1 + 5) & 0x03 == 0x03, "DR and OE")
        #expect(m.dispatcher.inb(com1) == 1)
        #expect(m.dispatcher.inb(com1 + 2) & 0xC0 == 0, "IIR FIFO bits clear")
    }

    @Test func interruptsFollowIERWithPriorities() throws {
        let m = try LegacyMachine()
        let irq = m.line[4]!
        let uart = m.devices.uart
        #expect(m.dispatcher.inb(com1 + 2) == 0x01, "nothing pending")

        // Enabling THRE interrupts with an empty THR raises one at once.
        m.dispatcher.outb(com1 + 1, 0x02)
        #expect(irq.isAsserted)
        #expect(m.dispatcher.inb(com1 + 2) & 0x0F == 0x02)
        #expect(!irq.isAsserted, "reading IIR clears the THRE interrupt")
        m.dispatcher.outb(com1, 0x55)
        #expect(irq.isAsserted, "THR empties again after a write")
        m.dispatcher.outb(com1 + 1, 0x00)
        #expect(!irq.isAsserted)

        // Received data outranks THRE; in FIFO mode below the trigger it is a character timeout.
        m.dispatcher.outb(com1 + 2, 0x41)  // FIFO on, trigger 4
        m.dispatcher.outb(com1 + 1, 0x03)
        uart.enqueueInput([1, 2])
        #expect(m.dispatcher.inb(com1 + 2) & 0x0F == 0x0C)
        uart.enqueueInput([3, 4])
        #expect(m.dispatcher.inb(com1 + 2) == 0xC4, "RDA at trigger level, FIFO bits set")
        for _ in 0..<4 { _ = m.dispatcher.inb(com1) }
        #expect(m.dispatcher.inb(com1 + 2) & 0x0F == 0x02, "THRE after the data is gone")
        #expect(m.dispatcher.inb(com1 + 2) & 0x0F == 0x01)
        #expect(!irq.isAsserted)

        // Line status (overrun) outranks everything.
        m.dispatcher.outb(com1 + 1, 0x05)
        m.dispatcher.outb(com1 + 2, 0x00)  // FIFO off: 1-byte holding register
        m.dispatcher.outb(com1 + 4, 0x10)
        m.dispatcher.outb(com1, 1)
        m.dispatcher.outb(com1, 2)
        #expect(m.dispatcher.inb(com1 + 2) & 0x0F == 0x06)
        _ = m.dispatcher.inb(com1 + 5)
        #expect(m.dispatcher.inb(com1 + 2) & 0x0F == 0x04)

        // Modem status interrupt.
        m.dispatcher.outb(com1 + 1, 0x08)
        _ = m.dispatcher.inb(com1)
        m.dispatcher.outb(com1 + 4, 0x12)  // RTS in loopback → DCTS
        #expect(m.dispatcher.inb(com1 + 2) & 0x0F == 0x00)
        #expect(irq.isAsserted)
        _ = m.dispatcher.inb(com1 + 6)
        #expect(!irq.isAsserted)
    }

    @Test func scratchRegisterAndWordAccessSplitIntoBytes() throws {
        let m = try LegacyMachine()
        m.dispatcher.outb(com1 + 7, 0xA5)
        #expect(m.dispatcher.inb(com1 + 7) == 0xA5)
        // A 16-bit write at offset 6 hits MSR (read-only) and SCR.
        m.dispatcher.outw(com1 + 6, 0x5A00)
        #expect(m.dispatcher.inb(com1 + 7) == 0x5A)
    }

    @Test func concurrentWritersKeepEveryByte() async throws {
        let m = try LegacyMachine()
        let d = m.dispatcher
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<4 {
                group.addTask {
                    for _ in 0..<500 { d.outb(0x3F8, UInt8(0x30 + t)) }
                }
            }
        }
        let bytes = m.recorder.bytes
        #expect(bytes.count == 2000)
        for t in 0..<4 { #expect(bytes.filter { $0 == UInt8(0x30 + t) }.count == 500) }
    }
}

@Suite struct InterruptDeliveryFailureTests {
    @Test func refusedLevelChangesAreCountedAndRetried() throws {
        let m = try LegacyMachine()
        let irq = m.line[4]!
        irq.failDeliveries(with: .deliveryFailed(what: "test", errno: 5))
        m.dispatcher.outb(0x3F8 + 1, 0x02)  // THRE interrupt wants the line high
        #expect(m.devices.uart.interruptDeliveryFailures == 1)
        #expect(!irq.isAsserted)
        irq.failDeliveries(with: nil)
        _ = m.dispatcher.inb(0x3F8 + 5)  // any access re-evaluates the level
        #expect(irq.isAsserted, "the level is driven again once the backend accepts it")
    }
}
