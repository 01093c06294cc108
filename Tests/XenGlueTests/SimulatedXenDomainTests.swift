import DeviceModel
import Synchronization
import Testing
import XenGlue
import XenSimulation

/// The assembly `--ioreq xen-sim` uses, with a real PCI bus on the dispatcher.
@Suite struct SimulatedXenDomainTests {
    @Test func pciBusAndInterruptsThroughTheSimulatedDomain() throws {
        let dispatcher = IODispatcher()
        let domain = try SimulatedXenDomain(vcpuCount: 1, ram: try SharedGuestRAM(layout: [(0, 2 << 20)]), dispatcher: dispatcher)
        defer { domain.stop() }
        let lines = Mutex<[String]>([])
        domain.deliverInterrupts(
            msi: { m in lines.withLock { $0.append("msi \(m.vector)") } },
            line: { gsi, level in lines.withLock { $0.append("gsi \(gsi) \(level)") } },
            pciRouting: .swizzled((16, 17, 18, 19)))
        let bus = try PCIBus(dispatcher: dispatcher, interruptLines: domain.interruptLines,
                             intxRouting: XenInterruptLines.pciINTxRouting)

        // Config cycles to the (empty) bus arrive through CF8/CFC → IOREQ_TYPE_PCI_CONFIG.
        var latch = IORequest.write(.port, 0xcf8, size: 4, value: 0x8000_0000 | 3 << 11)
        try domain.xen.emulate(vcpu: 0, &latch)
        var id = IORequest.read(.port, 0xcfc, size: 4)
        try domain.xen.emulate(vcpu: 0, &id)
        #expect(id.value == 0xffff_ffff, "absent function: master abort")
        #expect(domain.server.statistics.pciConfig == 1)
        withExtendedLifetime(bus) {}

        // INTx of slots 1 and 5 share GSI 17 under the swizzle: wired-OR.
        let a = try domain.interruptLines.line(gsi: XenInterruptLines.pciINTxRouting.gsi(1, .intA))
        let b = try domain.interruptLines.line(gsi: XenInterruptLines.pciINTxRouting.gsi(5, .intA))
        try a.setLevel(true)
        try b.setLevel(true)
        try a.setLevel(false)
        try b.setLevel(false)
        try domain.interruptLines.line(gsi: 0).pulse()
        try domain.msiController.signal(MSIMessage(address: 0xfee0_0000, data: 0x41))
        #expect(lines.withLock { $0 } == ["gsi 17 true", "gsi 17 false", "gsi 2 true", "gsi 2 false", "msi 65"])
    }
}

/// MSI-X as a Linux HVM guest with `XENFEAT_hvm_pirqs` programs it under Xen: the PIRQ form
/// (vector 0) with every entry left masked. Those messages must go out anyway (QEMU:
/// `xen_is_pirq_msi`); an ordinary masked message still waits in the PBA.
@Suite struct XenPIRQMSIXTests {
    final class Function: PCIFunction {
        let configSpace = PCIConfigSpace(vendorID: 0x1AF4, deviceID: 0x1042, classCode: .otherMassStorage)
        func readBAR(_ bar: Int, offset: UInt64, size: Int) -> UInt64 { 0 }
        func writeBAR(_ bar: Int, offset: UInt64, size: Int, value: UInt64) {}
    }

    @Test func pirqFormMessagesIgnoreTheMaskBits() throws {
        let dispatcher = IODispatcher()
        let domain = try SimulatedXenDomain(vcpuCount: 1, ram: try SharedGuestRAM(layout: [(0, 2 << 20)]), dispatcher: dispatcher)
        defer { domain.stop() }
        let delivered = Mutex<[MSIMessage]>([])
        domain.deliverInterrupts(msi: { m in delivered.withLock { $0.append(m) } }, line: { _, _ in }, pciRouting: .swizzled((16, 17, 18, 19)))
        let bus = try PCIBus(dispatcher: dispatcher, interruptLines: domain.interruptLines, intxRouting: XenInterruptLines.pciINTxRouting)
        let function = Function()
        try function.configSpace.addBAR(.memory32(size: 0x1000), at: 1)
        let msix = try function.configSpace.addMSIXCapability(
            vectorCount: 2, table: .init(bar: 1, offset: 0), pba: .init(bar: 1, offset: 0x800), controller: domain.msiController)
        let cap = try #require(function.configSpace.findCapability(MSIXCapability.capabilityID))
        try bus.attach(function, device: 3)

        func emulate(_ request: IORequest) throws {
            var r = request
            try domain.xen.emulate(vcpu: 0, &r)
        }
        func config(_ register: Int, size: Int, _ value: UInt64) throws {
            try emulate(.write(.port, 0xcf8, size: 4, value: 0x8000_0000 | 3 << 11 | UInt64(register & 0xFC)))
            try emulate(.write(.port, 0xcfc + UInt64(register & 3), size: size, value: value))
        }
        let bar: UInt64 = 0xF000_0000
        try config(0x14, size: 4, bar)
        try config(0x04, size: 2, 0x6)
        // MSI-X enabled with the function mask set, as Linux enables it before it writes entries.
        try config(cap + 2, size: 2, 0xC000)
        // Vector 0: PIRQ 0x37 in the destination ID, data 0x700 (vector 0); vector 1: an
        // ordinary message. Both stay masked.
        for (vector, address, data) in [(0, UInt64(0xFEE3_7000), UInt64(0x700)), (1, UInt64(0xFEE0_0000), UInt64(0x4041))] {
            let entry = bar + UInt64(vector * 16)
            try emulate(.write(.memory, entry, size: 4, value: address))
            try emulate(.write(.memory, entry + 4, size: 4, value: 0))
            try emulate(.write(.memory, entry + 8, size: 4, value: data))
        }
        #expect(try msix.notify(vector: 0) == .delivered)
        #expect(try msix.notify(vector: 1) == .pending)
        #expect(delivered.withLock { $0 } == [MSIMessage(address: 0xFEE3_7000, data: 0x700)])
        #expect(domain.msiController.ignoresVectorMask(MSIMessage(address: 0xFEE3_7000, data: 0x700)))
        #expect(!domain.msiController.ignoresVectorMask(MSIMessage(address: 0xFEE0_0000, data: 0x4041)))
    }
}
