import DeviceModel
import Dispatch
import Testing

@Suite("PCI MSI-X")
struct PCIMSIXTests {
    static let barBase: UInt64 = 0xFEB0_0000

    /// A function at 00:05.0 with 4 vectors: table at BAR1+0, PBA at BAR1+0x800; BAR1 at
    /// `barBase` with memory decode and bus mastering on (as Linux leaves them).
    struct Fixture {
        let machine: PCITestMachine
        let function: TestPCIFunction
        let msix: MSIXCapability
        let controller: PCIFakeMSIController
        let cap: Int

        init(busMaster: Bool = true) throws {
            machine = try PCITestMachine()
            function = TestPCIFunction()
            controller = PCIFakeMSIController()
            try function.configSpace.addBAR(.memory32(size: 0x1000), at: 1)
            msix = try function.configSpace.addMSIXCapability(
                vectorCount: 4, table: .init(bar: 1, offset: 0), pba: .init(bar: 1, offset: 0x800),
                controller: controller)
            cap = try #require(function.configSpace.findCapability(MSIXCapability.capabilityID))
            try machine.bus.attach(function, device: 5)
            try conf1Write(machine.dispatcher, device: 5, register: 0x14, size: 4, value: PCIMSIXTests.barBase)
            try conf1Write(machine.dispatcher, device: 5, register: 0x04, size: 2, value: busMaster ? 0x6 : 0x2)
        }

        func control() throws -> UInt16 {
            UInt16(try conf1Read(machine.dispatcher, device: 5, register: cap + 2, size: 2))
        }

        func setControl(enable: Bool, functionMask: Bool) throws {
            let v: UInt64 = (enable ? 0x8000 : 0) | (functionMask ? 0x4000 : 0)
            try conf1Write(machine.dispatcher, device: 5, register: cap + 2, size: 2, value: v)
        }

        /// Programs entry `v` as Linux does: address, data, then vector control.
        func program(_ v: Int, data: UInt32, masked: Bool) throws {
            let e = PCIMSIXTests.barBase + UInt64(v * 16)
            try pciWrite(machine.dispatcher, .memory, e, size: 4, value: 0xFEE0_0000)
            try pciWrite(machine.dispatcher, .memory, e + 4, size: 4, value: 0)
            try pciWrite(machine.dispatcher, .memory, e + 8, size: 4, value: UInt64(data))
            try mask(v, masked)
        }

        func mask(_ v: Int, _ masked: Bool) throws {
            try pciWrite(machine.dispatcher, .memory, PCIMSIXTests.barBase + UInt64(v * 16 + 12), size: 4, value: masked ? 1 : 0)
        }

        func pba() throws -> UInt64 { try pciRead(machine.dispatcher, .memory, PCIMSIXTests.barBase + 0x800, size: 8) }
    }

    @Test func capabilityLayout() throws {
        let f = try Fixture()
        #expect(try f.control() == 3)  // table size N-1, disabled, unmasked
        let table = try conf1Read(f.machine.dispatcher, device: 5, register: f.cap + 4, size: 4)
        let pba = try conf1Read(f.machine.dispatcher, device: 5, register: f.cap + 8, size: 4)
        #expect(table == 0x0000_0001)  // offset 0, BIR 1
        #expect(pba == 0x0000_0801)  // offset 0x800, BIR 1
        // Only enable and function mask are writable.
        try conf1Write(f.machine.dispatcher, device: 5, register: f.cap + 2, size: 2, value: 0xFFFF)
        #expect(try f.control() == 0xC003)
        try conf1Write(f.machine.dispatcher, device: 5, register: f.cap + 4, size: 4, value: 0xFFFF_FFFF)
        #expect(try conf1Read(f.machine.dispatcher, device: 5, register: f.cap + 4, size: 4) == 1)
        #expect(f.msix.isEnabled && f.msix.isFunctionMasked)
    }

    @Test func tableStartsMaskedAndReadsBackAtEveryWidth() throws {
        let f = try Fixture()
        let d = f.machine.dispatcher
        for v in 0..<4 {
            #expect(try pciRead(d, .memory, Self.barBase + UInt64(v * 16 + 12), size: 4) == 1)
        }
        try pciWrite(d, .memory, Self.barBase + 16, size: 8, value: 0x0000_0001_FEE0_1003)  // address bits 1:0 read-only
        try pciWrite(d, .memory, Self.barBase + 24, size: 8, value: 0xFFFF_FFFE_0000_4142)  // only the mask bit exists
        #expect(try pciRead(d, .memory, Self.barBase + 16, size: 8) == 0x0000_0001_FEE0_1000)
        #expect(try pciRead(d, .memory, Self.barBase + 24, size: 8) == 0x0000_0000_0000_4142)
        #expect(try pciRead(d, .memory, Self.barBase + 17, size: 1) == 0x10)
        #expect(try pciRead(d, .memory, Self.barBase + 18, size: 2) == 0xFEE0)
        #expect(f.msix.entry(1) == MSIXTableEntry(message: MSIMessage(address: 0x1_FEE0_1000, data: 0x4142), masked: false))
        // Beyond the table but inside the BAR: the function's own handler.
        try pciWrite(d, .memory, Self.barBase + 0x400, size: 4, value: 0x1234_5678)
        #expect(f.function.readBAR(1, offset: 0x400, size: 4) == 0x1234_5678)
        // The PBA is read-only.
        try pciWrite(d, .memory, Self.barBase + 0x800, size: 8, value: .max)
        #expect(try f.pba() == 0)
        #expect(f.function.readBAR(1, offset: 0x800, size: 8) == 0)
    }

    @Test func maskedVectorBecomesPendingAndUnmaskDelivers() throws {
        let f = try Fixture()
        try f.program(0, data: 0x41, masked: true)
        try f.program(2, data: 0x43, masked: false)
        #expect(try f.msix.notify(vector: 0) == .disabled)  // MSI-X not enabled yet
        #expect(f.controller.messages.isEmpty)

        try f.setControl(enable: true, functionMask: false)
        #expect(try f.msix.notify(vector: 0) == .pending)
        #expect(f.msix.isPending(0))
        #expect(try f.pba() == 0b1)
        #expect(f.controller.messages.isEmpty)

        #expect(try f.msix.notify(vector: 2) == .delivered)
        #expect(f.controller.messages == [MSIMessage(address: 0xFEE0_0000, data: 0x43)])

        // Unmasking vector 0 sends its pending message and clears the bit.
        try f.mask(0, false)
        #expect(f.controller.messages.last == MSIMessage(address: 0xFEE0_0000, data: 0x41))
        #expect(f.controller.messages.count == 2)
        #expect(!f.msix.isPending(0))
        #expect(try f.pba() == 0)

        // Unmasking with nothing pending sends nothing; masking again makes it pend again.
        try f.mask(0, false)
        #expect(f.controller.messages.count == 2)
        try f.mask(0, true)
        #expect(try f.msix.notify(vector: 0) == .pending)
        #expect(try f.msix.notify(vector: 0) == .pending)  // coalesces into the one bit
        try f.mask(0, false)
        #expect(f.controller.messages.count == 3)
        #expect(try f.msix.notify(vector: 7) == .invalidVector)
    }

    @Test func functionMaskHoldsEveryVector() throws {
        let f = try Fixture()
        for v in 0..<4 { try f.program(v, data: UInt32(0x50 + v), masked: false) }
        try f.setControl(enable: true, functionMask: true)
        #expect(try f.msix.notify(vector: 1) == .pending)
        #expect(try f.msix.notify(vector: 3) == .pending)
        #expect(try f.pba() == 0b1010)
        try f.mask(3, true)  // individually masked too: stays pending after the function mask lifts
        try f.setControl(enable: true, functionMask: false)
        #expect(f.controller.messages == [MSIMessage(address: 0xFEE0_0000, data: 0x51)])
        #expect(try f.pba() == 0b1000)
        try f.mask(3, false)
        #expect(f.controller.messages.map(\.data) == [0x51, 0x53])
        #expect(try f.pba() == 0)
    }

    @Test func busMasteringGatesDelivery() throws {
        let f = try Fixture(busMaster: false)
        try f.program(0, data: 0x41, masked: false)
        try f.setControl(enable: true, functionMask: false)
        #expect(try f.msix.notify(vector: 0) == .busMasterDisabled)
        #expect(f.controller.messages.isEmpty)
        try conf1Write(f.machine.dispatcher, device: 5, register: 0x04, size: 2, value: 0x6)
        #expect(try f.msix.notify(vector: 0) == .delivered)
    }

    @Test func placementIsValidated() throws {
        let c = PCIConfigSpace(vendorID: 0x1AF4, deviceID: 0x1041, classCode: .other)
        let mc = PCIFakeMSIController()
        try c.addBAR(.memory32(size: 0x1000), at: 0)
        try c.addBAR(.io(size: 0x40), at: 1)
        #expect(throws: PCIError.invalidMSIXVectorCount(0)) {
            _ = try c.addMSIXCapability(vectorCount: 0, table: .init(bar: 0, offset: 0), pba: .init(bar: 0, offset: 0x800), controller: mc)
        }
        #expect(throws: PCIError.self) {  // I/O BAR
            _ = try c.addMSIXCapability(vectorCount: 2, table: .init(bar: 1, offset: 0), pba: .init(bar: 0, offset: 0x800), controller: mc)
        }
        #expect(throws: PCIError.self) {  // undefined BAR
            _ = try c.addMSIXCapability(vectorCount: 2, table: .init(bar: 2, offset: 0), pba: .init(bar: 0, offset: 0x800), controller: mc)
        }
        #expect(throws: PCIError.self) {  // does not fit: 256 vectors = 4 KiB at 0x10
            _ = try c.addMSIXCapability(vectorCount: 256, table: .init(bar: 0, offset: 0x10), pba: .init(bar: 0, offset: 0), controller: mc)
        }
        #expect(throws: PCIError.self) {  // misaligned
            _ = try c.addMSIXCapability(vectorCount: 2, table: .init(bar: 0, offset: 4), pba: .init(bar: 0, offset: 0x800), controller: mc)
        }
        #expect(throws: PCIError.self) {  // overlapping table and PBA
            _ = try c.addMSIXCapability(vectorCount: 8, table: .init(bar: 0, offset: 0), pba: .init(bar: 0, offset: 0x40), controller: mc)
        }
        _ = try c.addMSIXCapability(vectorCount: 2, table: .init(bar: 0, offset: 0), pba: .init(bar: 0, offset: 0x800), controller: mc)
        #expect(throws: PCIError.msixAlreadyPresent) {
            _ = try c.addMSIXCapability(vectorCount: 2, table: .init(bar: 0, offset: 0x100), pba: .init(bar: 0, offset: 0x900), controller: mc)
        }
    }

    @Test func concurrentNotifyAndMaskingEndsWithNothingPending() throws {
        let f = try Fixture()
        try f.program(0, data: 0x41, masked: false)
        try f.setControl(enable: true, functionMask: false)
        let notifiers = 4
        let perThread = 2000
        // I/O threads notify while a "vCPU" toggles the mask through MMIO.
        DispatchQueue.concurrentPerform(iterations: notifiers + 1) { i in
            if i == notifiers {
                for n in 0..<perThread { try? f.mask(0, n % 2 == 0) }
            } else {
                for _ in 0..<perThread { _ = try? f.msix.notify(vector: 0) }
            }
        }
        try f.mask(0, false)
        // Every notify either sent a message or left the pending bit, which unmasking flushed.
        #expect(!f.msix.isPending(0))
        #expect(f.controller.messages.count >= 1)
        #expect(f.controller.messages.count <= notifiers * perThread)
        #expect(f.controller.messages.allSatisfy { $0 == MSIMessage(address: 0xFEE0_0000, data: 0x41) })
    }
}
