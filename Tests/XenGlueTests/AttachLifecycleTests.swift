import CXen
import DeviceModel
import Foundation
import Synchronization
import Testing
import XenGlue
import XenSimulation

/// Attaching, detaching and the domain's end, with requests racing each step as they can on
/// real Xen.
@Suite struct AttachLifecycleTests {
    static let invalidate = SimulatedIoreq(type: SimulatedIoreq.invalidate, address: 0, data: ~0, size: 4, isRead: false)

    private func makeXen(timeout: Duration = .seconds(2)) throws -> SimulatedXen {
        try SimulatedXen(domid: XenTestDomain.domid, vcpuCount: 1, ram: try SharedGuestRAM(layout: XenTestDomain.ramLayout),
                         responseTimeout: timeout)
    }

    /// Xen may send a request the moment the server is enabled — before its event channels
    /// are bound, so the event is lost (`notify_via_xen_event_channel` on an unbound port).
    /// The server must find it in the slot (and the ring) once it serves.
    @Test func requestsBetweenEnableAndBindAreServed() throws {
        let xen = try makeXen()
        let dispatcher = IODispatcher()
        let ports = ScratchDevice(length: 16)
        try dispatcher.ports.register(base: XenTestDomain.portBase, length: 16, name: "scratch-pio", handler: ports)
        let issued = Mutex<[String]>([])
        xen.whenServerEnabled { [unowned xen] id in
            do {
                try xen.sendBuffered(SimulatedIoreq(type: SimulatedIoreq.pio, address: XenTestDomain.portBase, data: 0x5a, size: 1, isRead: false), server: id)
                try xen.issue(vcpu: 0, Self.invalidate, server: id)
                issued.withLock { $0.append("ok") }
            } catch {
                issued.withLock { $0.append("\(error)") }
            }
        }
        let server = try XenIoreqServer(domid: XenTestDomain.domid, hypervisor: try xen.openHypervisor(), dispatcher: dispatcher)
        defer { server.stop() }
        xen.whenServerEnabled(nil)
        #expect(issued.withLock { $0 } == ["ok"])
        try server.start()
        #expect(try xen.collectResponse(vcpu: 0) == ~0)
        #expect(server.statistics.invalidate == 1)
        #expect(server.statistics.buffered == 1)
        #expect(ports.log.map(\.description) == ["W1@0=0x5a"])
    }

    /// A request Xen routed to the server just before the disable took effect is answered:
    /// the server disables first and serves until then, and only then stops its thread.
    @Test func requestRacingTheDisableIsAnswered() throws {
        let xen = try makeXen()
        let server = try XenIoreqServer(domid: XenTestDomain.domid, hypervisor: try xen.openHypervisor(), dispatcher: IODispatcher())
        try server.start()
        let answer = Mutex<Result<UInt64, XenSimulationError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        xen.beforeServerDisabled { [unowned xen] id in
            let pending: SimulatedPendingIoreq
            do throws(XenSimulationError) {
                pending = try xen.issue(vcpu: 0, Self.invalidate, server: id)
            } catch {
                answer.withLock { $0 = .failure(error) }
                done.signal()
                return
            }
            // The vCPU waits in Xen for the answer, whatever the device model does meanwhile.
            Thread.detachNewThread {
                let r = Result { () throws(XenSimulationError) -> UInt64 in try pending.response() }
                answer.withLock { $0 = r }
                done.signal()
            }
        }
        server.stop()
        xen.beforeServerDisabled(nil)
        #expect(done.wait(timeout: .now() + 5) == .success)
        #expect(answer.withLock { $0 } == .success(~0))
        #expect(server.statistics.invalidate == 1)
        #expect(xen.serverIDs.isEmpty)
    }

    /// Only the domain's primary device model (the one libxl started) may tell the toolstack
    /// it runs; a server attached next to it must leave that key alone.
    @Test func secondaryServerDoesNotAnnounceReadiness() throws {
        let xen = try makeXen()
        let server = try XenIoreqServer(domid: XenTestDomain.domid, hypervisor: try xen.openHypervisor(), dispatcher: IODispatcher())
        defer { server.stop() }
        try server.start()
        #expect(xen.store["/local/domain/0/device-model/\(XenTestDomain.domid)/state"] == nil)
    }
}

/// The mapping cache and the frames it hands out, through the simulated foreign memory.
@Suite struct ForeignMappingTests {
    /// A frame that failed to map (not populated yet, e.g. ballooned out) is tried again on
    /// the next access that needs it: Xen sends no INVALIDATE when RAM is added.
    @Test func frameThatFailedIsRetriedOnceMappable() throws {
        let d = try XenTestDomain(vcpus: 1)
        let memory = d.server.guestMemory
        d.xen.failFrame(0x123, errno: ENOENT)
        #expect(throws: GuestMemoryError.mappingFailed(gpa: 0x12_3000, errno: ENOENT)) {
            try memory.write(UInt32(0xfeed), at: 0x12_3010)
        }
        // Its neighbours in the same bucket work meanwhile.
        try memory.write(UInt32(0xbeef), at: 0x12_4000)
        d.xen.failFrame(0x123, errno: nil)
        try memory.write(UInt32(0xfeed), at: 0x12_3010)
        #expect(try d.ram.memory.read(UInt32.self, at: 0x12_3010) == 0xfeed)
        #expect(try memory.read(UInt32.self, at: 0x12_4000) == 0xbeef)
    }

    /// An INVALIDATE while another thread (a block request) holds a mapping: the access
    /// finishes on valid memory, and the mapping goes once it is done.
    @Test func mappingHeldAcrossInvalidateStaysValid() throws {
        let d = try XenTestDomain(vcpus: 1)
        let memory = d.server.guestMemory
        try memory.write(UInt64(0), at: 0x20_0000)
        let inside = DispatchSemaphore(value: 0)
        let invalidated = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            try? memory.withContiguousBytes(at: 0x20_0000, length: 4096) { bytes in
                inside.signal()
                invalidated.wait()
                // Touching an unmapped page here would crash the process.
                bytes.storeBytes(of: UInt64(0x1122_3344_5566_7788), as: UInt64.self)
            }
            finished.signal()
        }
        #expect(inside.wait(timeout: .now() + 5) == .success)
        try d.xen.broadcastInvalidate(vcpu: 0)
        #expect(memory.cachedBucketCount == 0)
        invalidated.signal()
        #expect(finished.wait(timeout: .now() + 5) == .success)
        #expect(try d.ram.memory.read(UInt64.self, at: 0x20_0000) == 0x1122_3344_5566_7788)
    }

    /// Frames the device model wrote (DMA) are reported with `modified_memory`, coalesced,
    /// by the time the guest can see the result (the next response or interrupt).
    @Test func writtenFramesAreReportedAsModified() throws {
        let d = try XenTestDomain(vcpus: 1)
        let memory = d.server.guestMemory
        try memory.writeBytes([UInt8](repeating: 0xab, count: 3 * 4096), at: 0x30_0000)
        try memory.write(UInt16(7), at: 0x30_2ffe)
        try d.server.msiController.signal(MSIMessage(address: 0xfee0_0000, data: 0x41))
        let reported = d.xen.modifiedFrames
        #expect(reported.count >= 1)
        let frames = Set(reported.flatMap { r in (0..<UInt64(r.count)).map { r.first + $0 } })
        #expect(frames.isSuperset(of: [0x300, 0x301, 0x302]))
        // One call for the whole run, not one per access.
        #expect(reported.count == 1)
    }
}
