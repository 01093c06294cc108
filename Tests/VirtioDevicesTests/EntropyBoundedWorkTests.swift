import DeviceModel
import Testing
import Virtio
@testable import VirtioDevices

/// One guest request must not hold the device's I/O thread (and with it reset, which a
/// vhost-user control plane waits for): a chain whose writable buffers add up to GiBs gets
/// at most ``EntropyQueueHandler/maximumBytesPerRequest`` (§5.4.6.1 allows partial fills).
@Suite("virtio-rng bounded work")
struct EntropyBoundedWorkTests {
    let features = VirtioFeature.version1 | VirtioFeature.eventIndex | VirtioFeature.indirectDescriptors

    @Test("a chain covering 768 MiB gets 64 KiB, at once")
    func hugeChainIsCapped() throws {
        let device = try VirtioEntropyDevice()
        let guest = try TestGuest()
        let q = try guest.makeQueue(size: 64)
        let irq = RecordingInterrupts()
        try device.activate(try guest.activation(features: features, queues: [q], interrupts: irq))
        // 64 indirect descriptors, each the same 12 MiB buffer: 768 MiB of writable space.
        let buffer = guest.allocate(12 << 20, alignment: 4096)
        let table = guest.allocate(16 * 64, alignment: 16)
        for i in 0..<64 {
            try q.writeDescriptor(table: table, UInt16(i), address: buffer, length: 12 << 20,
                                  flags: 2 | (i == 63 ? 0 : 1), next: i == 63 ? 0 : UInt16(i + 1))
        }
        let chain = try q.post([.writable(16)])
        try q.writeDescriptor(chain.head, address: table, length: 16 * 64, flags: 4, next: 0)
        let clock = ContinuousClock()
        let start = clock.now
        try q.notify()
        let used = try q.waitUsed(1)
        let elapsed = clock.now - start
        #expect(used.first?.length == UInt32(EntropyQueueHandler.maximumBytesPerRequest))
        #expect(EntropyQueueHandler.maximumBytesPerRequest == 64 << 10)
        #expect(elapsed < .seconds(1), "took \(elapsed)")
        let start2 = clock.now
        device.reset()
        #expect(clock.now - start2 < .seconds(1))
    }
}
