import CXen
import DeviceModel
import Testing
import XenGlue
import XenSimulation
#if canImport(Glibc)
import Glibc
#endif

/// Faults from the hypervisor interfaces and from hostile requests: each is typed,
/// reported, and leaves the server serving.
@Suite struct ErrorPathTests {
    @Test func bufferInAHoleFailsThatRequestOnly() throws {
        let d = try XenTestDomain()
        // rep outsb from 0x40_0000: just past the first RAM region.
        let v = try d.xen.send(vcpu: 0, SimulatedIoreq(type: SimulatedIoreq.pio, address: 0x60, data: 0x40_0000, size: 1, count: 2, isRead: false, dataIsPointer: true))
        #expect(v == 0x40_0000, "the slot is answered; data is left as sent")
        #expect(d.ports.log.isEmpty)
        guard case .dispatchFailed(0, _, .badBuffer(.mappingFailed(gpa: 0x40_0000, errno: EINVAL))) = try #require(d.faults.first) else {
            Issue.record("unexpected fault \(d.faults)")
            return
        }
        // The next request with a good buffer works.
        try d.ram.memory.write(UInt8(0x42), at: 0x3f_ffff)
        try d.xen.send(vcpu: 0, SimulatedIoreq(type: SimulatedIoreq.pio, address: 0x60, data: 0x3f_ffff, size: 1, isRead: false, dataIsPointer: true))
        #expect(d.ports.log.map(\.value) == [0x42])
    }

    @Test func oneUnmappableFrameFailsOneRequestNotTheMap() throws {
        let d = try XenTestDomain()
        d.xen.failFrame(0x10, errno: EFAULT)
        try d.ram.memory.writeBytes([1, 2, 3, 4], at: 0x11000)
        // rep insw into the bad frame fails…
        _ = try d.xen.send(vcpu: 0, SimulatedIoreq(type: SimulatedIoreq.pio, address: 0x60, data: 0x10000, size: 2, count: 2, isRead: true, dataIsPointer: true))
        #expect(d.faults.count == 1)
        // …while the neighbouring frame, in the same cached mapping, serves the next one.
        try d.xen.send(vcpu: 1, SimulatedIoreq(type: SimulatedIoreq.pio, address: 0x62, data: 0x11000, size: 2, count: 2, isRead: false, dataIsPointer: true))
        #expect(d.ports.log.filter(\.write).map(\.value) == [0x0201, 0x0403])
        #expect(d.server.guestMemory.statistics.misses == 1)
    }

    @Test func repWithABadElementReachesNoDevice() throws {
        // 2 dwords starting 4 bytes before the bad frame: the core checks the whole buffer
        // first, so not even the good first element is sent (no half-done side effects).
        let d = try XenTestDomain()
        d.xen.failFrame(0x21, errno: EFAULT)
        try d.ram.memory.write(UInt32(0x7777_7777), at: 0x20ffc)
        _ = try d.xen.send(vcpu: 0, SimulatedIoreq(type: SimulatedIoreq.pio, address: 0x64, data: 0x20ffc, size: 4, count: 2, isRead: false, dataIsPointer: true))
        #expect(d.ports.log.isEmpty)
        #expect(d.faults.count == 1)
    }

    @Test func failedNotifyLeavesTheResponseInTheSlot() throws {
        let d = try XenTestDomain(responseTimeout: .milliseconds(300), slowPortReads: true)
        d.ports.preset([0x99], at: 0)
        d.xen.failNotifies(toVCPU: 0, errno: EIO)
        #expect(throws: XenSimulationError.noResponse(vcpu: 0, state: UInt8(STATE_IORESP_READY))) {
            try d.pio(read: 0x60, size: 1)
        }
        let port = try #require(d.server.eventPort(vcpu: 0))
        #expect(d.faults == [.notifyFailed(vcpu: 0, port: port, errno: EIO)])
        // Other vCPUs are unaffected.
        #expect(try d.pio(vcpu: 1, read: 0x60, size: 1) == 0x99)
        // The answer was not lost: a later wake-up finds it and completes the request.
        d.xen.failNotifies(toVCPU: 0, errno: nil)
        #expect(try d.xen.collectResponse(vcpu: 0) == 0x99)
        #expect(try d.xen.slotState(vcpu: 0) == UInt8(STATE_IOREQ_NONE))
        #expect(try d.pio(read: 0x60, size: 1) == 0x99)
    }

    @Test func noServerRunningMeansNoResponse() throws {
        let d = try XenTestDomain(responseTimeout: .milliseconds(200), start: false)
        #expect(throws: XenSimulationError.noResponse(vcpu: 0, state: UInt8(STATE_IOREQ_READY))) {
            try d.pio(read: 0x60, size: 1)
        }
        // Xen refuses to reuse a slot that is not NONE.
        #expect(throws: XenSimulationError.slotBusy(vcpu: 0, state: UInt8(STATE_IOREQ_READY))) {
            try d.pio(read: 0x60, size: 1)
        }
        // Once the server starts it finds the pending request and answers it.
        try d.server.start()
        #expect(try d.xen.collectResponse(vcpu: 0) == 0)
    }

    @Test func attachFailuresCleanUp() throws {
        let ram = try SharedGuestRAM(layout: [(0, 1 << 20)])
        let xen = try SimulatedXen(domid: 4, vcpuCount: 2, ram: ram)
        let dispatcher = IODispatcher()
        for (call, errno) in [("xendevicemodel_create_ioreq_server", EPERM), ("xenforeignmemory_map_resource", ENOMEM),
                              ("xendevicemodel_get_ioreq_server_info", EACCES), ("xendevicemodel_set_ioreq_server_state", EBUSY)] {
            xen.failCall(call, errno: errno)
            #expect(throws: XenError.self) {
                _ = try XenIoreqServer(domid: 4, hypervisor: try xen.openHypervisor(), dispatcher: dispatcher)
            }
            #expect(xen.serverIDs.isEmpty, "\(call) failure left a server behind")
            xen.failCall(call, errno: nil)
        }
        do {
            _ = try XenIoreqServer(domid: 4, hypervisor: try xen.openHypervisor(), dispatcher: dispatcher, vcpuCount: 200)
            Issue.record("200 vCPUs accepted")
        } catch {
            #expect(error == .tooManyVCPUs(count: 200, slots: 128))
        }
        do {
            _ = try XenIoreqServer(domid: 9, hypervisor: try xen.openHypervisor(), dispatcher: dispatcher)
            Issue.record("wrong domain accepted")
        } catch {
            #expect(error == .callFailed(function: "xendevicemodel_nr_vcpus", domid: 9, errno: ESRCH))
            #expect(error.description == "xendevicemodel_nr_vcpus for domain 9 failed: No such process (errno 3)")
        }
        // A good attach after all that, and a clean detach.
        let server = try XenIoreqServer(domid: 4, hypervisor: try xen.openHypervisor(), dispatcher: dispatcher)
        #expect(xen.serverIDs == [server.id])
        server.stop()
        server.stop()
        #expect(xen.serverIDs.isEmpty)
    }

    @Test func storeFailureAtStartIsReported() throws {
        let d = try XenTestDomain(start: false)
        d.xen.failCall("xs_write", errno: EACCES)
        #expect(throws: XenError.callFailed(function: "xs_write(device-model/7/state)", domid: nil, errno: EACCES)) {
            try d.server.start()
        }
        d.xen.failCall("xs_write", errno: nil)
        try d.server.start()
        #expect(d.xen.store["/local/domain/0/device-model/7/state"] == "running")
        #expect(throws: XenError.stopped) { try d.server.start() }
    }

    @Test func claimsAreCheckedByTheHypervisor() throws {
        let d = try XenTestDomain()
        let ports = AddressRange(base: 0x60, length: 16)!
        #expect(throws: XenError.callFailed(function: "xendevicemodel_map_io_range_to_ioreq_server", domid: 7, errno: EEXIST)) {
            try d.server.claim(.port, ports)
        }
        #expect(throws: XenError.invalidArgument(what: "I/O port range end", value: 0x1_000f)) {
            try d.server.claim(.port, AddressRange(base: 0x1_0000, length: 16)!)
        }
        #expect(throws: XenError.callFailed(function: "xendevicemodel_unmap_io_range_from_ioreq_server", domid: 7, errno: ENOENT)) {
            try d.server.release(.memory, AddressRange(base: 0x1000, length: 16)!)
        }
        try d.server.release(.port, ports)
        var r = IORequest.read(.port, 0x60, size: 1)
        try d.xen.emulate(vcpu: 0, &r)
        #expect(r.value == 0xff)
        #expect(d.ports.log.isEmpty)
    }
}
