import CXen
import DeviceModel
import Testing
import XenGlue
import XenSimulation

/// `IOREQ_TYPE_PCI_CONFIG`: the SBDF in `addr`, decoded to the core's `.pciConfig`
/// address, including Xen's CF8/CFC decoding in the simulation.
@Suite struct PCIConfigTests {
    @Test func sbdfDecodeAndEncode() throws {
        let f = PCIAddress(sbdf: 0x0001_0a1b)
        #expect(f.segment == 1)
        #expect(f.bus == 0x0a)
        #expect(f.device == 3)
        #expect(f.function == 3)
        #expect(f.sbdf == 0x0001_0a1b)
        #expect(f.description == "0001:0a:03.3")
        #expect(f.configAddress(register: 0x44) == 0x0001_0a1b_0000_0044)
        #expect(PCIAddress(bus: 0, device: 32, function: 0) == nil)
        #expect(PCIAddress(bus: 0, device: 31, function: 8) == nil)
        #expect(PCIAddress(bus: 0xff, device: 31, function: 7)?.sbdf == 0xffff)
    }

    @Test func ioreqBecomesAPCIConfigRequest() throws {
        let f = PCIAddress(segment: 0, bus: 2, device: 5, function: 1)!
        let r = swiftdm_ioreq_make(f.configAddress(register: 0x10), 0xffff_ffff, 1, 4, 0, 0, 0, UInt8(IOREQ_WRITE), 0, UInt8(IOREQ_TYPE_PCI_CONFIG))
        let request = try #require(IORequest(xenIoreq: r))
        #expect(request.space == .pciConfig)
        #expect(request.address >> 32 == UInt64(f.sbdf))
        #expect(request.address & 0xffff_ffff == 0x10)
        #expect(request.direction == .write)
        #expect(request.value == 0xffff_ffff)
        let other = swiftdm_ioreq_make(0, 0, 1, 4, 0, 0, 0, UInt8(IOREQ_WRITE), 0, UInt8(IOREQ_TYPE_INVALIDATE))
        #expect(IORequest(xenIoreq: other) == nil)
    }

    @Test func rawPCIConfigRequestReachesTheFunction() throws {
        let d = try XenTestDomain()
        let address = XenTestDomain.pciFunction.configAddress(register: 0x3c)
        try d.xen.send(vcpu: 0, SimulatedIoreq(type: SimulatedIoreq.pciConfig, address: address, data: 0x0b, size: 1, isRead: false))
        #expect(try d.xen.send(vcpu: 1, SimulatedIoreq(type: SimulatedIoreq.pciConfig, address: address, size: 4, isRead: true)) == 0x0b)
        #expect(d.pciConfig.log.map(\.offset) == [0x3c, 0x3c])
        #expect(d.server.statistics.pciConfig == 2)
    }

    /// CF8 = enable | bus << 16 | device << 11 | function << 8 | register.
    private func cf8(_ f: PCIAddress, register: UInt32) -> UInt64 {
        UInt64(0x8000_0000 | UInt32(f.bus) << 16 | UInt32(f.device) << 11 | UInt32(f.function) << 8 | register & 0xfc)
    }

    @Test func cf8cfcCyclesArriveAsPCIConfig() throws {
        let d = try XenTestDomain()
        d.pciConfig.preset([0x86, 0x80, 0x00, 0x10], at: 0)
        var latch = IORequest.write(.port, 0xcf8, size: 4, value: cf8(XenTestDomain.pciFunction, register: 0))
        try d.xen.emulate(vcpu: 0, &latch)
        var id = IORequest.read(.port, 0xcfc, size: 4)
        try d.xen.emulate(vcpu: 0, &id)
        #expect(id.value == 0x1000_8086)
        // CFE: register 0x00 + port offset 2.
        var device = IORequest.read(.port, 0xcfe, size: 2)
        try d.xen.emulate(vcpu: 0, &device)
        #expect(device.value == 0x1000)
        #expect(d.pciConfig.log.map(\.offset) == [0, 2])
        // The CF8 write itself went to nobody: we did not claim port 0xcf8.
        #expect(d.xen.unclaimedAccesses == 1)
    }

    @Test func unclaimedFunctionAndDisabledCF8GetAllOnes() throws {
        let d = try XenTestDomain()
        let absent = PCIAddress(bus: 0, device: 4, function: 0)!
        var latch = IORequest.write(.port, 0xcf8, size: 4, value: cf8(absent, register: 0))
        try d.xen.emulate(vcpu: 0, &latch)
        var r = IORequest.read(.port, 0xcfc, size: 4)
        try d.xen.emulate(vcpu: 0, &r)
        #expect(r.value == 0xffff_ffff)
        // With CF8's enable bit clear, CFC is an ordinary port nobody claimed.
        var disabled = IORequest.write(.port, 0xcf8, size: 4, value: cf8(XenTestDomain.pciFunction, register: 0) & 0x7fff_ffff)
        try d.xen.emulate(vcpu: 0, &disabled)
        var r2 = IORequest.read(.port, 0xcfc, size: 2)
        try d.xen.emulate(vcpu: 0, &r2)
        #expect(r2.value == 0xffff)
        #expect(d.pciConfig.log.isEmpty)
    }

    @Test func releasingAFunctionStopsRouting() throws {
        let d = try XenTestDomain()
        let range = AddressRange(base: XenTestDomain.pciFunction.configAddress(register: 0), length: 4096)!
        try d.server.release(.pciConfig, range)
        #expect(d.xen.claimedRanges(server: d.server.id, kind: .pci).isEmpty)
        var r = IORequest.read(.pciConfig, XenTestDomain.pciFunction.configAddress(register: 0), size: 4)
        try d.xen.emulate(vcpu: 0, &r)
        #expect(r.value == 0xffff_ffff)
        try d.server.claim(.pciConfig, range)
        try d.xen.emulate(vcpu: 0, &r)
        #expect(r.value == 0)
    }
}
