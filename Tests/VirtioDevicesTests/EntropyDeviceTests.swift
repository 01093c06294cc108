import DeviceModel
import HostIO
import Testing
import Virtio
#if canImport(Glibc)
import Glibc
#endif
@testable import VirtioDevices

@Suite("virtio-rng")
struct EntropyDeviceTests {
    let features = VirtioFeature.version1 | VirtioFeature.eventIndex | VirtioFeature.indirectDescriptors

    @Test("identity: device type 4, no config space, one queue, ring features offered")
    func identity() throws {
        let device = try VirtioEntropyDevice()
        #expect(device.deviceType == .entropy)
        #expect(device.readConfig().isEmpty)
        #expect(device.queueMaxSizes.count == 1)
        #expect(device.offeredFeatures & features == features)
    }

    @Test("the host entropy source fills a whole buffer and accepts an empty one")
    func hostEntropy() throws {
        var bytes = [UInt8](repeating: 0, count: 4096)
        try bytes.withUnsafeMutableBytes { try HostEntropy.fill($0) }
        #expect(Set(bytes).count > 16)
        var none: [UInt8] = []
        try none.withUnsafeMutableBytes { try HostEntropy.fill($0) }
    }

    @Test("fills each writable buffer completely with non-constant bytes; lengths honoured")
    func fills() throws {
        let device = try VirtioEntropyDevice()
        let guest = try TestGuest()
        let q = try guest.makeQueue(size: 64)
        let irq = RecordingInterrupts()
        try device.activate(try guest.activation(features: features, queues: [q], interrupts: irq))
        let sizes = [1, 16, 64, 4096]
        var chains = sizes.map { try! q.post([.writable($0)]) }
        chains.append(try q.post([.writable(100), .writable(28)], indirect: true))
        try q.notify()
        let used = try q.waitUsed(chains.count)
        for c in chains {
            let expected = c.writable.reduce(0) { $0 + $1.length }
            #expect(used.first { UInt16($0.id) == c.head }?.length == UInt32(expected))
        }
        // 4096 bytes from a CSPRNG: not constant, and not the 0xEE pre-fill.
        let big = try guest.bytes(at: chains[3].writable[0].address, count: 4096)
        #expect(Set(big).count > 200)
        let small = try guest.bytes(at: chains[4].writable[1].address, count: 28)
        #expect(small != Array(repeating: 0xEE, count: 28))
        // Two requests never see the same bytes.
        #expect(try guest.bytes(at: chains[2].writable[0].address, count: 64) != Array(big.prefix(64)))
        #expect(waitUntil { irq.usedSignals(0) >= 1 })
        device.reset()
    }

    @Test("rate limit: requests beyond the budget wait for refill and are then served")
    func rateLimited() throws {
        // 64 bytes per 50 ms: the first request drains the bucket; later ones wait on the
        // loop timer and are filled partially (the used length says how much).
        let device = try VirtioEntropyDevice(configuration: .init(rateLimit: .init(bytes: 64, period: .milliseconds(50))))
        let guest = try TestGuest()
        let q = try guest.makeQueue(size: 16)
        let irq = RecordingInterrupts()
        try device.activate(try guest.activation(features: features, queues: [q], interrupts: irq))
        let first = try q.post([.writable(64)])
        let second = try q.post([.writable(256)])
        try q.notify()
        let a = try q.waitUsed(1)
        #expect(a.count == 1 && UInt16(a[0].id) == first.head && a[0].length == 64)
        let b = try q.waitUsed(1)
        #expect(UInt16(b[0].id) == second.head)
        #expect(b[0].length >= 1 && b[0].length <= 64)
        #expect(irq.needsReset.isEmpty)
        device.reset()
    }

    @Test("invalid configurations are refused with the offending value")
    func invalidConfiguration() {
        #expect(throws: VirtioEntropyError.invalidRateLimit(bytes: 0, period: .seconds(1))) {
            _ = try VirtioEntropyDevice(configuration: .init(rateLimit: .init(bytes: 0, period: .seconds(1))))
        }
        #expect(throws: VirtioEntropyError.invalidQueueSize(100)) {
            _ = try VirtioEntropyDevice(configuration: .init(queueSize: 100))
        }
    }

    @Test("reset while a request waits for tokens: it is returned empty during reset, nothing is pushed afterwards")
    func resetWhileThrottled() throws {
        let device = try VirtioEntropyDevice(configuration: .init(rateLimit: .init(bytes: 8, period: .seconds(3600))))
        let guest = try TestGuest()
        let q = try guest.makeQueue(size: 8)
        let irq = RecordingInterrupts()
        try device.activate(try guest.activation(features: features, queues: [q], interrupts: irq))
        try q.post([.writable(8)])
        try q.post([.writable(8)])
        try q.notify()
        _ = try q.waitUsed(1)
        device.reset()
        // Reset drains: the parked request goes back with nothing written (so a vhost-user
        // ring position stays consistent), and the ring is left alone from then on.
        #expect(try q.usedIndex() == 2)
        #expect(try q.takeUsed().last?.length == 0)
        usleep(50_000)
        #expect(try q.usedIndex() == 2)
    }
}
