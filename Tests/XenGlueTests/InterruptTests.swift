import DeviceModel
import Synchronization
import Testing
import XenGlue
import XenSimulation
#if canImport(Glibc)
import Glibc
#endif

/// MSIs and wired lines leave through the device-model control interface.
@Suite struct InterruptTests {
    @Test func msiIsInjected() throws {
        let d = try XenTestDomain()
        let seen = Mutex<[SimulatedInterrupt]>([])
        d.xen.setInterruptSink { i in seen.withLock { $0.append(i) } }
        let message = MSIMessage(address: 0xfee0_0000, data: 0x4041)
        try d.server.msiController.signal(message)
        #expect(d.xen.interrupts == [.msi(message)])
        #expect(seen.withLock { $0 } == [.msi(message)])
    }

    @Test func msiFailureIsTyped() throws {
        let d = try XenTestDomain()
        d.xen.failCall("xendevicemodel_inject_msi", errno: EINVAL)
        let message = MSIMessage(address: 0xfee0_0000, data: 0x31)
        #expect(throws: InterruptError.deliveryFailed(what: "xendevicemodel_inject_msi \(message)", errno: EINVAL)) {
            try d.server.msiController.signal(message)
        }
    }

    @Test func isaLinesAndPCIINTx() throws {
        let d = try XenTestDomain()
        try d.server.interruptLines.line(gsi: 4).setLevel(true)
        try d.server.interruptLines.line(gsi: 0).pulse()
        let intx = try d.server.interruptLines.pciINTxLine(bus: 0, device: 3, pin: 1)
        try intx.setLevel(true)
        try intx.setLevel(false)
        #expect(d.xen.interrupts == [
            .isaIRQ(irq: 4, asserted: true),
            .isaIRQ(irq: 0, asserted: true), .isaIRQ(irq: 0, asserted: false),
            .pciINTx(segment: 0, bus: 0, device: 3, pin: 1, asserted: true),
            .pciINTx(segment: 0, bus: 0, device: 3, pin: 1, asserted: false),
        ])
        // Xen's GSI routing: ISA 0 is GSI 2; device 3 INTB is ((3 << 2) + 0 + 1) & 31 + 16.
        #expect(d.xen.interrupts[1].gsi == 2)
        #expect(d.xen.interrupts[3].gsi == 29)
        let gsi = SimulatedInterrupt.pciINTx(segment: 0, bus: 0, device: 9, pin: 3, asserted: true).gsi
        #expect(gsi == UInt32(((36 + 1 + 3) & 31) + 16))
    }

    @Test func pciBusINTxGoesThroughSetPCIIntxLevel() throws {
        let d = try XenTestDomain()
        let routing = XenInterruptLines.pciINTxRouting
        let number = routing.gsi(5, .intC)
        #expect(number == XenInterruptLines.pciINTxLineBase | 5 << 2 | 2)
        try d.server.interruptLines.line(gsi: number).setLevel(true)
        #expect(d.xen.interrupts == [.pciINTx(segment: 0, bus: 0, device: 5, pin: 2, asserted: true)])
    }

    @Test func invalidLinesAreRefused() throws {
        let d = try XenTestDomain()
        #expect(throws: InterruptError.invalidLine(16)) { try d.server.interruptLines.line(gsi: 16) }
        #expect(throws: InterruptError.self) { try d.server.interruptLines.pciINTxLine(bus: 0, device: 32, pin: 0) }
        #expect(throws: InterruptError.self) { try d.server.interruptLines.pciINTxLine(bus: 0, device: 1, pin: 4) }
        // Xen only has bus 0 for INTx: the hypervisor refuses, the line reports it.
        let line = try d.server.interruptLines.pciINTxLine(bus: 1, device: 1, pin: 0)
        #expect(throws: InterruptError.self) { try line.setLevel(true) }
    }

    @Test func modifiedMemoryIsReported() throws {
        let d = try XenTestDomain()
        let control = d.server.hypervisor.control
        try control.modifiedMemory(domid: 7, firstFrame: 0x10, count: 4)
        #expect(throws: XenError.self) { try control.modifiedMemory(domid: 7, firstFrame: 0x3ff, count: 2) }
        #expect(d.xen.modifiedFrames.map(\.first) == [0x10])
    }
}
