import DeviceModel
import Testing
import XenGlue
import XenSimulation
#if canImport(Glibc)
import Glibc
#endif

/// Claims that follow the dispatcher's registrations, as BARs come and go.
@Suite struct MirroringTests {
    @Test func claimsFollowRegistrations() throws {
        let d = try XenTestDomain()
        d.server.mirrorRegistrations(of: [.memory])
        let bar = ScratchDevice(length: 0x1000)
        // Before: nobody claims the future BAR address.
        var r = IORequest.read(.memory, 0xe000_0010, size: 4)
        try d.xen.emulate(vcpu: 0, &r)
        #expect(r.value == 0xffff_ffff)

        bar.preset([1, 2, 3, 4], at: 0x10)
        try d.dispatcher.memory.register(base: 0xe000_0000, length: 0x1000, name: "bar0", handler: bar)
        #expect(d.xen.claimedRanges(server: d.server.id, kind: .memory).contains(0xe000_0000...0xe000_0fff))
        try d.xen.emulate(vcpu: 0, &r)
        #expect(r.value == 0x0403_0201)

        try d.dispatcher.memory.unregister(base: 0xe000_0000)
        #expect(!d.xen.claimedRanges(server: d.server.id, kind: .memory).contains(0xe000_0000...0xe000_0fff))
        try d.xen.emulate(vcpu: 0, &r)
        #expect(r.value == 0xffff_ffff)
    }

    @Test func refusedClaimIsAFault() throws {
        let d = try XenTestDomain()
        // The existing ranges are already claimed by the fixture: mirroring re-claims them
        // and the hypervisor answers EEXIST for each.
        d.server.mirrorRegistrations(of: [.port])
        #expect(d.faults == [.claimFailed(space: .port, range: AddressRange(base: 0x60, length: 16)!,
                                          error: .callFailed(function: "xendevicemodel_map_io_range_to_ioreq_server", domid: 7, errno: EEXIST))])
    }

    @Test func stoppingRemovesTheObservers() throws {
        let d = try XenTestDomain()
        d.server.mirrorRegistrations(of: [.port])
        d.server.stop()
        let before = d.faults.count
        try d.dispatcher.ports.register(base: 0x80, length: 1, name: "late", handler: ScratchDevice(length: 1))
        #expect(d.faults.count == before)
        #expect(d.xen.serverIDs.isEmpty)
    }
}
