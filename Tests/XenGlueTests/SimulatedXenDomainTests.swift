import DeviceModel
import Synchronization
import Testing
import XenGlue
import XenSimulation

/// The assembly `--ioreq xen-sim` uses, with a real PCI bus on the dispatcher.
@Suite struct SimulatedXenDomainTests {
    @Test func pciBusAndInterruptsThroughTheSimulatedDomain() throws {
        let dispatcher = IODispatcher()
        let domain = try SimulatedXenDomain(vcpuCount: 1, ram: try SimulatedGuestRAM(layout: [(0, 2 << 20)]), dispatcher: dispatcher)
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
