import DeviceModel
import DeviceModelTesting
import Testing
import Virtio
@testable import VirtioDevices
import VirtioTesting

@Suite("virtio-rng through virtio-mmio and virtio-pci")
struct EntropyTransportTests {
    @Test("random bytes with a used-buffer interrupt", arguments: DeviceOnTransport<VirtioEntropyDevice>.Kind.allCases)
    func bytes(kind: DeviceOnTransport<VirtioEntropyDevice>.Kind) throws {
        let f = try DeviceOnTransport(kind, device: try VirtioEntropyDevice())
        let q = try f.start(queues: [0])[0]
        try q.submit(writable: [256])
        try q.submit(writable: [16, 48], indirect: f.driver.features & VirtioFeature.indirectDescriptors != 0)
        try f.driver.kick(q)
        let used = try f.driver.waitForUsed(q, count: 2)
        #expect(Set(used.map(\.length)) == [256, 64])
        let big = try #require(used.first { $0.length == 256 })
        #expect(Set(big.written).count > 64)
        #expect(try f.driver.waitForInterrupt().usedBuffers)
    }

    @Test("EVENT_IDX through the transport: completions that do not cross used_event raise no interrupt")
    func eventIndexSuppression() throws {
        let f = try DeviceOnTransport(.pciMSIX, device: try VirtioEntropyDevice())
        let q = try f.start(queues: [0])[0]
        #expect(f.driver.features & VirtioFeature.eventIndex != 0)
        try q.submit(writable: [8])
        try f.driver.kick(q)
        _ = try f.driver.waitForUsed(q)
        _ = try f.driver.waitForInterrupt()
        // The driver wants an interrupt only once used.idx passes 10 (§2.7.10).
        try q.disableInterrupts()
        try q.setUsedEvent(10)
        for _ in 0..<3 {
            try q.submit(writable: [8])
            if try f.driver.kick(q) == false { f.driver.notify(q) }
            _ = try f.driver.waitForUsed(q)
        }
        #expect(f.driver.pendingMessages == 0)
        try q.enableInterrupts()
        try q.submit(writable: [8])
        try f.driver.kick(q)
        _ = try f.driver.waitForUsed(q)
        #expect(try f.driver.waitForInterrupt().usedBuffers)
    }
}
