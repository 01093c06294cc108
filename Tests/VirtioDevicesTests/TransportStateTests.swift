import DeviceModel
import DeviceModelTesting
import Testing
import Virtio
@testable import VirtioDevices
import VirtioTesting

/// A running virtio device stopped at a safe point, saved, and continued — in place, and in a
/// freshly built machine holding a copy of the guest's RAM — with no request lost or repeated.
@Suite("virtio transport state")
struct TransportStateTests {
    typealias Fixture = DeviceOnTransport<VirtioEntropyDevice>

    func quiesce(_ f: Fixture) -> Bool { f.attachment.pci?.quiesce() ?? f.attachment.mmio?.quiesce() ?? false }
    func resume(_ f: Fixture) { f.attachment.pci?.resume() ?? f.attachment.mmio?.resume() }

    func save(_ f: Fixture) -> [DeviceStateRecord] {
        var records: [DeviceStateRecord] = []
        if let pci = f.attachment.pci, let bus = f.attachment.bus,
           let function = bus.saveFunctionState(device: SimulatedTransportAttachment<VirtioEntropyDevice>.pciSlot, function: 0, id: "function") {
            records.append(function)
            records.append(pci.saveState(id: "transport"))
        } else if let mmio = f.attachment.mmio {
            records.append(mmio.saveState(id: "transport"))
        }
        return records
    }

    func restore(_ archive: DeviceStateArchive, into f: Fixture) throws {
        if let pci = f.attachment.pci, let bus = f.attachment.bus {
            try bus.restoreFunctionState(try archive.record("function"), device: SimulatedTransportAttachment<VirtioEntropyDevice>.pciSlot, function: 0)
            try pci.restoreState(try archive.record("transport"))
        } else if let mmio = f.attachment.mmio {
            try mmio.restoreState(try archive.record("transport"))
        }
    }

    @Test("quiesce, save and resume in place", arguments: Fixture.Kind.allCases)
    func inPlace(kind: Fixture.Kind) throws {
        let f = try Fixture(kind, device: try VirtioEntropyDevice())
        let q = try f.start(queues: [0])[0]
        for _ in 0..<3 { try q.submit(writable: [32]) }
        try f.driver.kick(q)
        _ = try f.driver.waitForUsed(q, count: 3)
        #expect(quiesce(f))
        #expect(!quiesce(f), "a second quiesce has nothing to stop")
        let r = save(f).last
        #expect(try r?.unsignedArray("queue-next-avail").first == 3)
        #expect(try r?.unsignedArray("queue-next-used").first == 3)
        // A request posted while the device is stopped is served once it resumes.
        try q.submit(writable: [16])
        f.driver.notify(q)
        resume(f)
        f.driver.notify(q)
        let after = try f.driver.waitForUsed(q)
        #expect(after.count == 1 && after[0].length == 16)
        #expect(f.status.contains(.driverOK) && !f.status.contains(.deviceNeedsReset))
    }

    @Test("restore into a fresh machine continues at the saved position", arguments: Fixture.Kind.allCases)
    func intoAFreshMachine(kind: Fixture.Kind) async throws {
        let a = try Fixture(kind, device: try VirtioEntropyDevice())
        let q = try a.start(queues: [0])[0]
        for _ in 0..<2 { try q.submit(writable: [32]) }
        try a.driver.kick(q)
        _ = try a.driver.waitForUsed(q, count: 2)
        try q.submit(writable: [24])   // posted, not yet kicked: the restored device must serve it
        #expect(quiesce(a))
        let bytes = DeviceStateArchive(records: save(a)).encoded()
        let usedRing = q.placement.usedRing
        let ramSize = Int(Fixture.ramSize)
        let ram = try a.machine.memory.readBytes(at: 0, count: ramSize)

        let b = try Fixture(kind, device: try VirtioEntropyDevice())
        try b.machine.memory.writeBytes(ram, at: 0)
        try restore(try DeviceStateArchive(decoding: bytes), into: b)
        #expect(b.status.contains(.driverOK))
        // The restored device may serve the posted request at once (devices look at their
        // queues when they start) or on the kick below.
        #expect(try b.machine.memory.read(UInt16.self, at: usedRing + 2) >= 2)
        b.attachment.driverTransport.notify(queue: 0)
        let deadline = ContinuousClock.now + .seconds(10)
        while try b.machine.memory.read(UInt16.self, at: usedRing + 2) != 3, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(try b.machine.memory.read(UInt16.self, at: usedRing + 2) == 3, "exactly the one posted request was served")
        try await Task.sleep(for: .milliseconds(50))
        #expect(try b.machine.memory.read(UInt16.self, at: usedRing + 2) == 3, "and nothing was served twice")
    }

    @Test("records that do not fit the device are refused")
    func refusals() throws {
        let a = try Fixture(.pciMSIX, device: try VirtioEntropyDevice())
        _ = try a.start(queues: [0])
        #expect(quiesce(a))
        let good = save(a)
        let b = try Fixture(.pciMSIX, device: try VirtioEntropyDevice())
        var features = good[1]
        features.set("driver-features", UInt64(1) << 60)
        #expect(throws: DeviceStateError.self) { try b.attachment.pci?.restoreState(features) }
        var type = good[1]
        type.set("device-type", UInt64(2))
        #expect(throws: DeviceStateError.invalidValue(id: "transport", field: "device-type", value: "2", expected: "4 (virtio device type 4)")) {
            try b.attachment.pci?.restoreState(type)
        }
        var rings = good[1]
        rings.set("queue-descriptors", array: [UInt64(1) << 40])
        #expect(throws: DeviceStateError.self) { try b.attachment.pci?.restoreState(rings) }
        #expect(!b.status.contains(.driverOK), "a refused restore leaves the device unstarted")
        // The good record still loads.
        try b.attachment.bus?.restoreFunctionState(good[0], device: SimulatedTransportAttachment<VirtioEntropyDevice>.pciSlot, function: 0)
        try b.attachment.pci?.restoreState(good[1])
        #expect(b.status.contains(.driverOK))
    }
}
