import DeviceModel
import Dispatch
import Foundation
import HostIO
import Synchronization
import Testing
import Virtio
@testable import VirtioDevices

/// Used-buffer interrupts as a driver waits for them: each one wakes the waiting thread.
final class SemaphoreInterrupts: VirtioInterruptSink {
    let used = DispatchSemaphore(value: 0)
    func signalUsedBuffers(queue index: Int) { used.signal() }
    func signalConfigChange() {}
    func deviceNeedsReset(_ error: VirtioDeviceError) { used.signal() }
}

/// 4 KiB random reads at queue depth 32 against a virtio-blk device in this process, driven
/// like a guest driver: 32 requests in flight, each one re-posted as soon as it is used,
/// waiting for the device's interrupt between batches, kicking only when the device asks.
/// Rounds alternate between the engines (this machine is noisy: only ratios within one
/// run mean anything) and the test prints a BENCH line per engine and their ratio.
///
/// A debug build mostly measures unoptimised Swift on the I/O thread; for figures worth
/// quoting run it optimised: `swift test -c release -Xswiftc -enable-testing --filter
/// BlockEngineBenchmark`.
@Suite("virtio-blk engine benchmark", .serialized)
struct BlockEngineBenchmark {
    static let depth = 32
    static let imageSize = 64 << 20
    static let roundTime: Duration = .seconds(1)
    static let rounds = 3

    /// One round on a fresh device: returns requests per second.
    static func round(engine: BlockIOEngine, path: String) throws -> Double {
        let device = try VirtioBlockDevice(configuration: VirtioBlockConfiguration(path: path, aio: engine))
        defer { device.reset() }
        let guest = try TestGuest(size: 4 << 20)
        let q = try guest.makeQueue(size: 128)
        let irq = SemaphoreInterrupts()
        // No EVENT_IDX: this driver does not publish used_event, so it asks for every interrupt.
        let features = device.offeredFeatures & ~VirtioFeature.eventIndex
        // Fixed chains, one per slot: header, 4 KiB of data, status; re-posting rewrites the
        // header's sector and publishes the same head again.
        var headers: [UInt64] = []
        for slot in 0..<depth {
            let header = guest.allocate(16, alignment: 16)
            let data = guest.allocate(4096, alignment: 4096)
            let status = guest.allocate(1)
            let d = UInt16(slot * 3)
            try q.writeDescriptor(d, address: header, length: 16, flags: 1, next: d + 1)
            try q.writeDescriptor(d + 1, address: data, length: 4096, flags: 2 | 1, next: d + 2)
            try q.writeDescriptor(d + 2, address: status, length: 1, flags: 2, next: 0)
            headers.append(header)
        }
        try device.activate(VirtioActivation(features: features, memory: guest.memory,
                                             queues: [try q.binding(index: 0, features: features)], interrupts: irq))
        let sectors = UInt64(imageSize / 4096)
        var rng = SystemRandomNumberGenerator()
        func post(_ slot: Int) throws {
            try guest.memory.writeBytes(blkHeader(0, sector: UInt64.random(in: 0..<sectors, using: &rng) * 8), at: headers[slot])
            try q.publish(head: UInt16(slot * 3))
        }
        for slot in 0..<depth { try post(slot) }
        try q.notify()
        var done = 0
        var seen: UInt16 = 0
        let clock = ContinuousClock()
        let start = clock.now
        while clock.now - start < roundTime {
            guard irq.used.wait(timeout: .now() + 5) == .success else { throw TestFailure("no interrupt for 5 s (\(engine))") }
            let end = try q.usedIndex()
            while seen != end {
                let id = try guest.memory.read(UInt32.self, at: q.usedRing + 4 + 8 * UInt64(seen % q.size))
                seen &+= 1
                done += 1
                try post(Int(id) / 3)
            }
            // VIRTQ_USED_F_NO_NOTIFY: the device is still serving and will see the new entries.
            if try q.usedFlags() & 1 == 0 { try q.notify() }
        }
        let elapsed = clock.now - start
        return Double(done) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    @Test("BENCH: 4k random read, queue depth 32, tmpfs: io_uring vs thread pool")
    func randomReadQD32() throws {
        guard BlockEngineCheck.ioUringOrSkip("io_uring benchmark") else { return }
        let dir = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let path = "\(dir)/swiftdm-bench-\(getpid()).img"
        let medium = dir == "/dev/shm" ? "tmpfs" : dir
        guard FileManager.default.createFile(atPath: path, contents: nil), truncate(path, off_t(Self.imageSize)) == 0 else {
            throw TestFailure("cannot create \(path)")
        }
        defer { unlink(path) }
        // Fill the image so reads hit real pages rather than holes.
        let fd = open(path, O_WRONLY)
        let chunk = [UInt8](repeating: 0x5A, count: 1 << 20)
        for i in 0..<(Self.imageSize >> 20) { _ = chunk.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(i << 20)) } }
        close(fd)
        var results: [BlockIOEngine: [Double]] = [:]
        for _ in 0..<Self.rounds {
            for engine in [BlockIOEngine.ioUring, .threads] {
                results[engine, default: []].append(try Self.round(engine: engine, path: path))
            }
        }
        func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
        for engine in [BlockIOEngine.ioUring, .threads] {
            let v = results[engine] ?? []
            print("BENCH virtio-blk 4k randread qd\(Self.depth) \(medium) aio=\(engine.rawValue): min \(Int(v.min() ?? 0)) median \(Int(median(v))) IOPS over \(Self.rounds) rounds of \(Self.roundTime)")
        }
        let ratio = median(results[.ioUring] ?? [0]) / max(median(results[.threads] ?? [1]), 1)
        print("BENCH virtio-blk 4k randread qd\(Self.depth) \(medium) io_uring/threads median ratio: \(String(format: "%.2f", ratio))")
        #expect((results[.ioUring]?.min() ?? 0) > 0)
    }
}
