import DeviceModel
import DeviceModelTesting
import Foundation
import Testing
import Virtio
@testable import VirtioDevices
import VirtioTesting

typealias BlockOnTransport = DeviceOnTransport<VirtioBlockDevice>

/// A block device on a fresh 1 MiB pattern image.
func makeBlockDevice(_ dir: TemporaryDirectory, _ configure: (inout VirtioBlockConfiguration) -> Void = { _ in }) throws -> VirtioBlockDevice {
    let path = dir.file("disk.img")
    guard FileManager.default.createFile(atPath: path, contents: Data((0..<(1 << 20)).map(imagePattern))) else {
        throw TestFailure("cannot create \(path)")
    }
    var config = VirtioBlockConfiguration(path: path, serial: "transport-disk")
    configure(&config)
    return try VirtioBlockDevice(configuration: config)
}

/// Waits for a configuration-change interrupt (skipping used-buffer ones).
func waitForConfigInterrupt(_ driver: VirtioTestDriver) throws -> VirtioTestInterrupt {
    let deadline = ContinuousClock.now + .seconds(20)
    while ContinuousClock.now < deadline {
        if let i = try? driver.waitForInterrupt(timeout: .milliseconds(200)), i.configChange { return i }
    }
    throw TestFailure("no configuration-change interrupt")
}

@Suite("virtio-blk through virtio-mmio and virtio-pci")
struct BlockTransportTests {
    @Test("init sequence, write, read back, flush, GET_ID, out-of-range, interrupts", arguments: BlockOnTransport.Kind.allCases)
    func io(kind: BlockOnTransport.Kind) throws {
        let dir = try TemporaryDirectory()
        let f = try BlockOnTransport(kind, device: try makeBlockDevice(dir))
        let q = try f.start(queues: [0])[0]
        #expect(f.status.contains(.driverOK))
        #expect(f.driver.features & VirtioBlockFeature.flush != 0)
        #expect(kind.isLegacyDriver || f.driver.features & VirtioFeature.version1 != 0)
        // capacity, as virtblk_probe reads it
        let capacity = try f.driver.readConfigBytes(offset: 0, count: 8)
        #expect(capacity == [0, 8, 0, 0, 0, 0, 0, 0])   // 2048 sectors

        let data = (0..<2048).map { UInt8(truncatingIfNeeded: $0 ^ 0x5A) }
        try q.submit(readable: [blkHeader(1, sector: 64), data], writable: [1])
        try f.driver.kick(q)
        let w = try f.driver.waitForUsed(q)
        #expect(w.count == 1 && w[0].written == [0])
        let irq = try f.driver.waitForInterrupt()
        #expect(irq.usedBuffers)
        if kind == .pciMSIX { #expect(irq.msixVector == 1) }

        try q.submit(readable: [blkHeader(0, sector: 64)], writable: [2048, 1], indirect: f.driver.features & VirtioFeature.indirectDescriptors != 0)
        try f.driver.kick(q)
        let r = try f.driver.waitForUsed(q)
        #expect(r[0].length == 2049)
        #expect(r[0].written == data + [0])

        try q.submit(readable: [blkHeader(4)], writable: [1])
        try q.submit(readable: [blkHeader(8)], writable: [20, 1])
        try q.submit(readable: [blkHeader(0, sector: 2048)], writable: [512, 1])
        try f.driver.kick(q)
        let rest = try f.driver.waitForUsed(q, count: 3)
        #expect(rest.first { $0.request.buffers.count == 2 }?.written == [0])                       // flush
        #expect(rest.first { $0.request.buffers.contains { $0.length == 20 } }?.written == Array("transport-disk".utf8) + [0, 0, 0, 0, 0, 0, 0])
        #expect(rest.first { $0.request.buffers.contains { $0.length == 512 } }?.written.last == 1) // IOERR
        #expect(!f.status.contains(.deviceNeedsReset))
    }

    @Test("reset mid-flight, then a fresh initialisation serves I/O again", arguments: BlockOnTransport.Kind.allCases)
    func resetMidFlight(kind: BlockOnTransport.Kind) throws {
        let dir = try TemporaryDirectory()
        let f = try BlockOnTransport(kind, device: try makeBlockDevice(dir) { $0.ioThreads = 3 })
        var q = try f.start(queues: [0])[0]
        for i in 0..<16 {
            try q.submit(readable: [blkHeader(1, sector: UInt64(i * 8)), Array(repeating: UInt8(i), count: 4096)], writable: [1])
        }
        try f.driver.kick(q)
        try f.driver.reset()   // waits until status reads 0: the device has stopped
        #expect(f.status.rawValue == 0)
        q = try f.start(queues: [0])[0]
        try q.submit(readable: [blkHeader(0, sector: 2040)], writable: [4096, 1])
        try f.driver.kick(q)
        let r = try f.driver.waitForUsed(q)
        #expect(r.count == 1 && r[0].written == (2040 * 512..<2048 * 512).map(imagePattern) + [0])
    }

    @Test("a request without room for the status byte: DEVICE_NEEDS_RESET and a config interrupt", arguments: BlockOnTransport.Kind.allCases)
    func malformed(kind: BlockOnTransport.Kind) throws {
        let dir = try TemporaryDirectory()
        let f = try BlockOnTransport(kind, device: try makeBlockDevice(dir))
        let q = try f.start(queues: [0])[0]
        try q.submit(readable: [blkHeader(0)], writable: [])
        try f.driver.kick(q)
        try f.driver.waitForStatus(VirtioDeviceStatus.deviceNeedsReset.rawValue, timeout: .seconds(20))
        #expect(try waitForConfigInterrupt(f.driver).configChange)
        // The driver resets and the device works again.
        let q2 = try f.start(queues: [0])[0]
        try q2.submit(readable: [blkHeader(8)], writable: [20, 1])
        try f.driver.kick(q2)
        #expect(try f.driver.waitForUsed(q2)[0].written.last == 0)
    }

    @Test("multi-queue through virtio-pci: num_queues from config space, I/O on every queue")
    func multiQueue() throws {
        let dir = try TemporaryDirectory()
        let f = try BlockOnTransport(.pciMSIX, device: try makeBlockDevice(dir) { $0.queues = 4; $0.vcpus = 3 })
        let numQueues = try f.driver.readConfigBytes(offset: 34, count: 2)
        #expect(numQueues == [3, 0])
        let queues = try f.start(queues: [0, 1, 2])
        for (i, q) in queues.enumerated() {
            try q.submit(readable: [blkHeader(0, sector: UInt64(i))], writable: [512, 1])
            try f.driver.kick(q)
            #expect(try f.driver.waitForUsed(q)[0].written == (i * 512..<(i + 1) * 512).map(imagePattern) + [0])
        }
    }
}
