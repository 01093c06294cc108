import DeviceModel
import Foundation
import Synchronization
import Testing
import XenGlue
import XenSimulation

/// The domain's end as the device model learns it.
@Suite struct DomainLifetimeTests {
    /// `xl destroy` (or a power-off the toolstack acted on): the server learns it through the
    /// `@releaseDomain` watch and tells its owner once; stopping afterwards releases
    /// everything although every call about the domain now fails with ESRCH.
    @Test func domainDeathIsReported() throws {
        let xen = try SimulatedXen(domid: XenTestDomain.domid, vcpuCount: 1, ram: try SharedGuestRAM(layout: XenTestDomain.ramLayout))
        let server = try XenIoreqServer(domid: XenTestDomain.domid, hypervisor: try xen.openHypervisor(), dispatcher: IODispatcher())
        try server.start()
        let reports = Mutex(0)
        let gone = DispatchSemaphore(value: 0)
        try server.watchDomain {
            reports.withLock { $0 += 1 }
            gone.signal()
        }
        // The watch fires once when set; the domain is alive then, and a shutdown of some
        // other domain fires it again.
        xen.fireReleaseDomain()
        #expect(gone.wait(timeout: .now() + .milliseconds(300)) == .timedOut)
        #expect(!server.isDomainGone)
        xen.destroyDomain()
        #expect(gone.wait(timeout: .now() + 5) == .success)
        #expect(server.isDomainGone)
        xen.fireReleaseDomain()
        server.stop()
        #expect(reports.withLock { $0 } == 1)
    }
}
