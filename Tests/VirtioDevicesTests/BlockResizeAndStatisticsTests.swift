import Foundation
import HostIO
import Synchronization
import Testing
import Virtio
@testable import VirtioDevices

/// A backend whose reads fail with EIO.
final class FailingReadBackend: BlockBackend {
    let capacity: UInt64 = 1 << 20
    let isReadOnly = false
    func read(into buffers: [UnsafeMutableRawBufferPointer], at offset: UInt64) throws(BlockBackendError) {
        throw .io(operation: "preadv", offset: offset, errno: EIO)
    }
    func write(from buffers: [UnsafeMutableRawBufferPointer], at offset: UInt64) throws(BlockBackendError) {}
    func flush() throws(BlockBackendError) {}
    func discard(offset: UInt64, length: UInt64) throws(BlockBackendError) {}
    func writeZeroes(offset: UInt64, length: UInt64, mayUnmap: Bool) throws(BlockBackendError) {}
}

@Suite("virtio-blk resize and statistics")
struct BlockResizeAndStatisticsTests {
    func capacitySectors(_ device: VirtioBlockDevice) -> UInt64 {
        device.readConfig()[0..<8].reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    @Test("resize changes the file, the capacity the driver reads and the range enforced, with a config-change interrupt",
          arguments: BlockIOEngine.allCases)
    func resize(engine: BlockIOEngine) throws {
        let f = try BlockFixture(engine: engine)
        let lastOldSector = UInt64(BlockFixture.imageSize / 512)
        #expect(try f.request([.readable(blkHeader(0, sector: lastOldSector)), .writable(512), .writable(1)]).status == 1)
        try f.device.resize(to: 2 << 20)
        #expect(capacitySectors(f.device) == 4096)
        #expect(f.irq.configChanges == 1)
        #expect((try FileManager.default.attributesOfItem(atPath: f.path)[.size] as? Int) == 2 << 20)
        #expect(try f.request([.readable(blkHeader(0, sector: lastOldSector)), .writable(512), .writable(1)]).status == 0)
        try f.device.resize(to: 512 << 10)
        #expect(capacitySectors(f.device) == 1024)
        #expect(f.irq.configChanges == 2)
        #expect(try f.request([.readable(blkHeader(0, sector: 1024)), .writable(512), .writable(1)]).status == 1)
        #expect(throws: VirtioBlockError.self) { try f.device.resize(to: 1000) }
        let s = f.device.statistics.snapshot
        #expect(s.operations[.read] == 1 && s.bytes[.read] == 512)
        #expect(s.invalid[.read] == 2)
    }

    @Test("requests are counted as they complete", arguments: BlockIOEngine.allCases)
    func counters(engine: BlockIOEngine) throws {
        let f = try BlockFixture(engine: engine)
        #expect(try f.request([.readable(blkHeader(0, sector: 2)), .writable(1024), .writable(1)]).status == 0)
        #expect(try f.request([.readable(blkHeader(1, sector: 8) + Array(repeating: 7, count: 512)), .writable(1)]).status == 0)
        #expect(try f.request([.readable(blkHeader(4)), .writable(1)]).status == 0)
        let s = f.device.statistics.snapshot
        #expect(s.operations[.read] == 1 && s.bytes[.read] == 1024)
        #expect(s.operations[.write] == 1 && s.bytes[.write] == 512)
        #expect(s.operations[.flush] == 1)
        #expect(s.highestWriteOffset == 9 * 512)
        #expect(s.failed.values.allSatisfy { $0 == 0 })
    }

    @Test("a failed request is counted and reported to the failure handler (QMP's BLOCK_IO_ERROR)")
    func failureReported() throws {
        let device = try VirtioBlockDevice(configuration: .init(path: "failing"), backend: FailingReadBackend())
        let failures = Mutex<[BlockStatistics.Failure]>([])
        device.statistics.onFailure { f in failures.withLock { $0.append(f) } }
        let guest = try TestGuest()
        let q = try guest.makeQueue(size: 16)
        try device.activate(try guest.activation(features: device.offeredFeatures, queues: [q], interrupts: RecordingInterrupts()))
        let c = try q.post([.readable(blkHeader(0, sector: 0)), .writable(512), .writable(1)])
        try q.notify()
        _ = try q.waitUsed(1)
        let status = c.writable.last!
        #expect(try guest.bytes(at: status.address + UInt64(status.length) - 1, count: 1) == [1])
        #expect(device.statistics.snapshot.failed[.read] == 1)
        let reported = failures.withLock { $0 }
        #expect(reported.count == 1 && reported.first?.operation == .read)
        #expect(reported.first?.reason.contains("errno \(EIO)") == true, "\(reported)")
        device.reset()
    }
}
