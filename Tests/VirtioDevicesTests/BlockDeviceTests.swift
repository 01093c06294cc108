import CDeviceModelShims
import DeviceModel
import Dispatch
import Foundation
import HostIO
import Synchronization
import Testing
import Virtio
@testable import VirtioDevices

/// `struct virtio_blk_req` header bytes.
func blkHeader(_ type: UInt32, sector: UInt64 = 0) -> [UInt8] {
    var h: [UInt8] = []
    withUnsafeBytes(of: type.littleEndian) { h += $0 }
    h += [0, 0, 0, 0]
    withUnsafeBytes(of: sector.littleEndian) { h += $0 }
    return h
}

/// `struct virtio_blk_discard_write_zeroes`.
func blkSegment(sector: UInt64, sectors: UInt32, flags: UInt32 = 0) -> [UInt8] {
    var s: [UInt8] = []
    withUnsafeBytes(of: sector.littleEndian) { s += $0 }
    withUnsafeBytes(of: sectors.littleEndian) { s += $0 }
    withUnsafeBytes(of: flags.littleEndian) { s += $0 }
    return s
}

/// True when `fallocate(PUNCH_HOLE|KEEP_SIZE)` works in `directory`.
func fileSystemPunchesHoles(in directory: String) -> Bool {
    let path = "\(directory)/punch-probe"
    let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { return false }
    defer { close(fd); unlink(path) }
    guard ftruncate(fd, 8192) == 0 else { return false }
    return swiftdm_fallocate(fd, 0x03, 0, 4096) == 0
}

/// The byte at `offset` of the test image's initial content.
func imagePattern(_ offset: Int) -> UInt8 { UInt8(truncatingIfNeeded: offset / 512 &* 31 &+ offset % 251) }

/// A virtio-blk device on a fresh 1 MiB image, activated with `features` on `queues` queues.
final class BlockFixture {
    let dir: TemporaryDirectory
    let path: String
    let guest: TestGuest
    let irq = RecordingInterrupts()
    let device: VirtioBlockDevice
    var queues: [TestVirtqueue] = []
    static let imageSize = 1 << 20

    /// `engine`: the `aio=` choice; io_uring where the host cannot run it is reported with a
    /// SKIP line and the test runs on the thread pool instead.
    /// `directory`: where the image's directory is made (the temporary directory by default).
    init(engine: BlockIOEngine? = nil, _ configure: (inout VirtioBlockConfiguration) -> Void = { _ in },
         features: ((UInt64) -> UInt64)? = nil, imageSize: Int = BlockFixture.imageSize, directory: String? = nil) throws {
        dir = try directory.map { try TemporaryDirectory(in: $0) } ?? TemporaryDirectory()
        path = dir.file("disk.img")
        let content = Data((0..<imageSize).map(imagePattern))
        guard FileManager.default.createFile(atPath: path, contents: content) else { throw TestFailure("cannot create \(path)") }
        var config = VirtioBlockConfiguration(path: path, serial: "swiftdm-test-disk")
        config.aio = BlockEngineCheck.usable(engine)
        configure(&config)
        device = try VirtioBlockDevice(configuration: config)
        if let engine = config.aio { #expect(device.engine == engine) }
        guest = try TestGuest()
        let accepted = features?(device.offeredFeatures) ?? device.offeredFeatures
        for _ in device.queueMaxSizes { queues.append(try guest.makeQueue(size: 64)) }
        try device.activate(try guest.activation(features: accepted, queues: queues, interrupts: irq))
    }

    deinit { device.reset() }

    var q: TestVirtqueue { queues[0] }

    /// Posts one request, kicks, waits for it and returns (status, used length, chain).
    @discardableResult
    func request(_ segments: [Segment], queue: Int = 0, indirect: Bool = false) throws -> (status: UInt8, length: UInt32, chain: PostedChain) {
        let q = queues[queue]
        let chain = try q.post(segments, indirect: indirect)
        try q.notify()
        let used = try q.waitUsed(1)
        #expect(used.count == 1 && UInt16(used[0].id) == chain.head)
        let status = chain.writable.last!
        return (try guest.bytes(at: status.address + UInt64(status.length) - 1, count: 1)[0], used[0].length, chain)
    }

    func image(at offset: Int, count: Int) throws -> [UInt8] {
        let h = try #require(FileHandle(forReadingAtPath: path))
        defer { try? h.close() }
        try h.seek(toOffset: UInt64(offset))
        return [UInt8](try h.read(upToCount: count) ?? Data())
    }
}

@Suite("virtio-blk")
struct BlockDeviceTests {
    @Test("configuration space and features as Linux reads them", arguments: BlockIOEngine.allCases)
    func configSpace(engine: BlockIOEngine) throws {
        let f = try BlockFixture(engine: engine) { $0.queues = 4; $0.vcpus = 2; $0.queueSize = 128; $0.physicalBlockSize = 4096 }
        let c = f.device.readConfig()
        func u64(_ o: Int) -> UInt64 { c[o..<o + 8].reversed().reduce(0) { $0 << 8 | UInt64($1) } }
        func u32(_ o: Int) -> UInt32 { c[o..<o + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
        func u16(_ o: Int) -> UInt16 { UInt16(c[o]) | UInt16(c[o + 1]) << 8 }
        #expect(c.count == 72)
        #expect(u64(0) == UInt64(BlockFixture.imageSize / 512))
        #expect(u32(12) == 126)            // seg_max = queue size - 2
        #expect(u32(8) >= 4096)            // size_max at least a page
        #expect(u32(20) == 512)            // blk_size
        #expect(c[24] == 3)                // 4096 physical / 512 logical = 2^3
        #expect(u16(34) == 2)              // num_queues bounded by 2 vCPUs
        #expect(u32(40) > 0 && u32(36) > 0) // discard limits
        #expect(c[56] == 1)                // write_zeroes_may_unmap
        #expect(f.device.queueMaxSizes == [128, 128])
        let offered = f.device.offeredFeatures
        let B = VirtioBlockFeature.self
        for bit in [B.flush, B.segMax, B.sizeMax, B.blockSize, B.topology, B.multiQueue, B.discard, B.writeZeroes,
                    VirtioFeature.version1, VirtioFeature.eventIndex, VirtioFeature.indirectDescriptors] {
            #expect(offered & bit != 0)
        }
        #expect(offered & VirtioBlockFeature.readOnly == 0)
        #expect(f.device.deviceType == .block)
    }

    @Test("read: data from the image into the guest, zero copy, status OK, used length data+1", arguments: BlockIOEngine.allCases)
    func read(engine: BlockIOEngine) throws {
        let f = try BlockFixture(engine: engine)
        let r = try f.request([.readable(blkHeader(0, sector: 3)), .writable(1024), .writable(1)])
        #expect(r.status == 0)
        #expect(r.length == 1025)
        #expect(try f.guest.bytes(at: r.chain.writable[0].address, count: 1024) == (1536..<2560).map(imagePattern))
        // Scattered over several buffers through an indirect table, status in its own byte.
        let s = try f.request([.readable(blkHeader(0, sector: 10)), .writable(100), .writable(412), .writable(512), .writable(1)], indirect: true)
        #expect(s.status == 0)
        let got = try s.chain.writable.dropLast().flatMap { try f.guest.bytes(at: $0.address, count: $0.length) }
        #expect(got == (5120..<6144).map(imagePattern))
        #expect(waitUntil { f.irq.usedSignals(0) >= 1 })
    }

    @Test("write: guest data reaches the image before the request completes", arguments: BlockIOEngine.allCases)
    func write(engine: BlockIOEngine) throws {
        let f = try BlockFixture(engine: engine)
        let data = (0..<1536).map { UInt8(truncatingIfNeeded: $0 * 7 + 1) }
        let r = try f.request([.readable(blkHeader(1, sector: 100)), .readable(Array(data[0..<1000])), .readable(Array(data[1000...])), .writable(1)])
        #expect(r.status == 0 && r.length == 1)
        #expect(try f.image(at: 100 * 512, count: 1536) == data)
        // The header may share a descriptor with the data, as some drivers lay it out.
        let r2 = try f.request([.readable(blkHeader(1, sector: 0) + Array(repeating: 0xAB, count: 512)), .writable(1)])
        #expect(r2.status == 0)
        #expect(try f.image(at: 0, count: 512) == Array(repeating: 0xAB, count: 512))
    }

    @Test("flush completes with OK", arguments: BlockIOEngine.allCases)
    func flush(engine: BlockIOEngine) throws {
        let f = try BlockFixture(engine: engine)
        #expect(try f.request([.readable(blkHeader(4)), .writable(1)]).status == 0)
    }

    @Test("GET_ID returns the NUL-padded serial; a 20-byte serial has no terminator", arguments: BlockIOEngine.allCases)
    func getID(engine: BlockIOEngine) throws {
        let f = try BlockFixture(engine: engine)
        let r = try f.request([.readable(blkHeader(8)), .writable(20), .writable(1)])
        #expect(r.status == 0 && r.length == 21)
        #expect(try f.guest.bytes(at: r.chain.writable[0].address, count: 20) == Array("swiftdm-test-disk".utf8) + [0, 0, 0])
        let g = try BlockFixture(engine: engine) { $0.serial = "ABCDEFGHIJKLMNOPQRST" }
        let s = try g.request([.readable(blkHeader(8)), .writable(20), .writable(1)])
        #expect(try g.guest.bytes(at: s.chain.writable[0].address, count: 20) == Array("ABCDEFGHIJKLMNOPQRST".utf8))
        #expect(throws: VirtioBlockError.invalidSerial("this serial is far too long")) {
            try VirtioBlockConfiguration(path: "/x", serial: "this serial is far too long").validate()
        }
    }

    @Test("discard punches a hole; UNMAP or unknown flags on discard are UNSUPP", arguments: BlockIOEngine.allCases)
    func discard(engine: BlockIOEngine) throws {
        let f = try BlockFixture(engine: engine)
        #expect(try f.request([.readable(blkHeader(11)), .readable(blkSegment(sector: 8, sectors: 16)), .writable(1)]).status == 0)
        // Where the filesystem punches holes (tmpfs, ext4, xfs, btrfs) the range now reads
        // as zeroes; elsewhere discard is a no-op, which the spec allows.
        if fileSystemPunchesHoles(in: f.dir.path) {
            #expect(try f.image(at: 8 * 512, count: 16 * 512) == Array(repeating: 0, count: 16 * 512))
        } else {
            print("SKIP: part of discard test: \(f.dir.path) does not support FALLOC_FL_PUNCH_HOLE")
        }
        #expect(try f.image(at: 24 * 512, count: 4) == (24 * 512..<24 * 512 + 4).map(imagePattern))
        #expect(try f.request([.readable(blkHeader(11)), .readable(blkSegment(sector: 8, sectors: 1, flags: 1)), .writable(1)]).status == 2)
        #expect(try f.request([.readable(blkHeader(11)), .readable(blkSegment(sector: 8, sectors: 1, flags: 4)), .writable(1)]).status == 2)
        // Out of range or a partial segment: IOERR.
        #expect(try f.request([.readable(blkHeader(11)), .readable(blkSegment(sector: 2047, sectors: 2)), .writable(1)]).status == 1)
        #expect(try f.request([.readable(blkHeader(11)), .readable(Array(blkSegment(sector: 0, sectors: 1).prefix(12))), .writable(1)]).status == 1)
    }

    @Test("write zeroes, with and without UNMAP, and several segments in one request", arguments: BlockIOEngine.allCases)
    func writeZeroes(engine: BlockIOEngine) throws {
        let f = try BlockFixture(engine: engine)
        let segs = blkSegment(sector: 1, sectors: 2) + blkSegment(sector: 40, sectors: 8, flags: 1)
        #expect(try f.request([.readable(blkHeader(13)), .readable(segs), .writable(1)]).status == 0)
        #expect(try f.image(at: 512, count: 1024) == Array(repeating: 0, count: 1024))
        #expect(try f.image(at: 40 * 512, count: 4096) == Array(repeating: 0, count: 4096))
        #expect(try f.image(at: 0, count: 512) == (0..<512).map(imagePattern))
        #expect(try f.image(at: 3 * 512, count: 512) == (1536..<2048).map(imagePattern))
        #expect(try f.request([.readable(blkHeader(13)), .readable(blkSegment(sector: 0, sectors: 1, flags: 2)), .writable(1)]).status == 2)
    }

    @Test("out-of-range sectors, overflowing sectors and partial sectors are IOERR; nothing is written", arguments: BlockIOEngine.allCases)
    func outOfRange(engine: BlockIOEngine) throws {
        let f = try BlockFixture(engine: engine)
        let last = UInt64(BlockFixture.imageSize / 512)
        let refused = try f.request([.readable(blkHeader(0, sector: last)), .writable(512), .writable(1)])
        #expect(refused.status == 1)
        // len counts from the start of the writable part and the status byte is its last
        // byte: the unfilled data is zeroed, not left as it was (§2.7.8.2).
        #expect(refused.length == 513)
        #expect(try f.guest.bytes(at: refused.chain.writable[0].address, count: 512) == Array(repeating: 0, count: 512))
        #expect(try f.request([.readable(blkHeader(0, sector: last - 1)), .writable(1024), .writable(1)]).status == 1)
        #expect(try f.request([.readable(blkHeader(0, sector: UInt64.max / 256)), .writable(512), .writable(1)]).status == 1)
        #expect(try f.request([.readable(blkHeader(1, sector: UInt64.max)), .readable(Array(repeating: 1, count: 512)), .writable(1)]).status == 1)
        #expect(try f.request([.readable(blkHeader(1, sector: 0)), .readable(Array(repeating: 1, count: 100)), .writable(1)]).status == 1)
        #expect(try f.image(at: 0, count: 512) == (0..<512).map(imagePattern))
        // The last sector itself is fine.
        #expect(try f.request([.readable(blkHeader(0, sector: last - 1)), .writable(512), .writable(1)]).status == 0)
    }

    @Test("unknown and unimplemented request types are UNSUPP", arguments: BlockIOEngine.allCases)
    func unsupported(engine: BlockIOEngine) throws {
        let f = try BlockFixture(engine: engine)
        for type: UInt32 in [2, 10, 14, 99, 0xFFFF_FFFF] {
            #expect(try f.request([.readable(blkHeader(type)), .writable(16), .writable(1)]).status == 2, "type \(type)")
        }
        // A driver that did not accept DISCARD gets UNSUPP for it.
        let g = try BlockFixture(engine: engine, features: { $0 & ~VirtioBlockFeature.discard })
        #expect(try g.request([.readable(blkHeader(11)), .readable(blkSegment(sector: 0, sectors: 1)), .writable(1)]).status == 2)
    }

    @Test("read-only: RO offered, writes and zeroing fail with IOERR, reads work, image untouched", arguments: BlockIOEngine.allCases)
    func readOnly(engine: BlockIOEngine) throws {
        let f = try BlockFixture(engine: engine) { $0.readOnly = true }
        #expect(f.device.offeredFeatures & VirtioBlockFeature.readOnly != 0)
        #expect(f.device.offeredFeatures & (VirtioBlockFeature.discard | VirtioBlockFeature.writeZeroes) == 0)
        #expect(try f.request([.readable(blkHeader(1, sector: 0)), .readable(Array(repeating: 9, count: 512)), .writable(1)]).status == 1)
        #expect(try f.request([.readable(blkHeader(0, sector: 0)), .writable(512), .writable(1)]).status == 0)
        #expect(try f.image(at: 0, count: 512) == (0..<512).map(imagePattern))
    }

    @Test("malformed chains: short header or no status byte → NEEDS_RESET, chain returned", arguments: BlockIOEngine.allCases)
    func malformed(engine: BlockIOEngine) throws {
        for (name, segments) in [("header shorter than 16 bytes", [Segment.readable([0, 0, 0, 0, 0, 0, 0, 0]), .writable(1)]),
                                 ("no writable status byte", [Segment.readable(blkHeader(0))])] {
            let f = try BlockFixture(engine: engine)
            let c = try f.q.post(segments)
            try f.q.notify()
            let error = f.irq.waitForNeedsReset()
            guard case .malformedRequest(0, c.head, _)? = error else {
                Issue.record("\(name): expected NEEDS_RESET for head \(c.head), got \(String(describing: error))")
                continue
            }
            let used = try f.q.takeUsed()
            #expect(used.count == 1 && used[0].length == 0, "\(name)")
        }
    }

    @Test("multi-queue: every queue serves requests", arguments: BlockIOEngine.allCases)
    func multiQueue(engine: BlockIOEngine) throws {
        let f = try BlockFixture(engine: engine) { $0.queues = 3 }
        #expect(f.queues.count == 3)
        for i in 0..<3 {
            let r = try f.request([.readable(blkHeader(0, sector: UInt64(i))), .writable(512), .writable(1)], queue: i)
            #expect(r.status == 0)
            #expect(try f.guest.bytes(at: r.chain.writable[0].address, count: 512) == (i * 512..<(i + 1) * 512).map(imagePattern))
        }
    }

    @Test("many concurrent writes, then reset mid-flight: acknowledged writes are on disk, nothing after reset", arguments: BlockIOEngine.allCases)
    func resetMidFlight(engine: BlockIOEngine) throws {
        let f = try BlockFixture(engine: engine) { $0.ioThreads = 4 }
        var chains: [(PostedChain, UInt8)] = []
        for i in 0..<20 {
            let fill = UInt8(i + 1)
            chains.append((try f.q.post([.readable(blkHeader(1, sector: UInt64(i * 8))), .readable(Array(repeating: fill, count: 4096)), .writable(1)]), fill))
        }
        try f.q.notify()
        f.device.reset()
        let after = try f.q.usedIndex()
        // No push may happen once reset returned.
        f.device.service.loop.sync {}
        usleep(20_000)
        #expect(try f.q.usedIndex() == after)
        let used = try f.q.takeUsed()
        for u in used {
            let (chain, fill) = try #require(chains.first { $0.0.head == UInt16(u.id) })
            #expect(try f.guest.bytes(at: chain.writable[0].address, count: 1) == [0])
            let sector = chains.firstIndex { $0.0.head == chain.head }! * 8
            #expect(try f.image(at: sector * 512, count: 4096) == Array(repeating: fill, count: 4096))
        }
        #expect(f.irq.needsReset.isEmpty)
    }

    @Test("the image is locked against a second writer")
    func imageLock() throws {
        let f = try BlockFixture()
        #expect(throws: BlockBackendError.imageLocked(path: f.path)) {
            _ = try FileBlockBackend(path: f.path, readOnly: false)
        }
        #expect(throws: BlockBackendError.open(path: f.dir.file("missing.img"), errno: ENOENT)) {
            _ = try FileBlockBackend(path: f.dir.file("missing.img"), readOnly: true)
        }
    }

    @Test("an incoming migration's device opens the image unlocked, takes the lock once the sender let go, and lets go of it")
    func deferredImageLock() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("disk.img")
        #expect(FileManager.default.createFile(atPath: path, contents: Data(count: 1 << 20)))
        var configuration = VirtioBlockConfiguration(path: path)
        configuration.locksImageAtOpen = false
        let receiver: VirtioBlockDevice
        do {
            let sender = try FileBlockBackend(path: path, readOnly: false)
            receiver = try VirtioBlockDevice(configuration: configuration)
            #expect(throws: VirtioBlockError.backend(.imageLocked(path: path))) { try receiver.lockImage() }
            withExtendedLifetime(sender) {}
        }
        try receiver.lockImage()
        try receiver.lockImage()
        #expect(throws: BlockBackendError.imageLocked(path: path)) { _ = try FileBlockBackend(path: path, readOnly: true) }
        // A sender lets go once its state is handed over.
        receiver.unlockImage()
        _ = try FileBlockBackend(path: path, readOnly: false)
    }

    @Test("the device reports its image's backend error with the path and errno")
    func backendErrorReachesTheUser() throws {
        let f = try BlockFixture()
        let missing = f.dir.file("missing.img")
        let error = #expect(throws: VirtioBlockError.self) {
            _ = try VirtioBlockDevice(configuration: VirtioBlockConfiguration(path: missing))
        }
        #expect(error == .backend(.open(path: missing, errno: ENOENT)))
        #expect(error?.description == "cannot open image \(missing): errno \(ENOENT)")
        let locked = #expect(throws: VirtioBlockError.self) {
            _ = try VirtioBlockDevice(configuration: VirtioBlockConfiguration(path: f.path))
        }
        #expect(locked?.description == "image \(f.path) is locked by another process")
    }
}

/// A backend that blocks inside `write` until released, recording the calls it gets.
final class GatedBackend: BlockBackend {
    let capacity: UInt64 = 1 << 20
    let isReadOnly = false
    let entered = DispatchSemaphore(value: 0)
    let release = DispatchSemaphore(value: 0)
    let calls = Mutex<[String]>([])
    func read(into buffers: [UnsafeMutableRawBufferPointer], at offset: UInt64) throws(BlockBackendError) { calls.withLock { $0.append("read") } }
    func write(from buffers: [UnsafeMutableRawBufferPointer], at offset: UInt64) throws(BlockBackendError) {
        calls.withLock { $0.append("write") }
        entered.signal()
        release.wait()
    }
    func flush() throws(BlockBackendError) { calls.withLock { $0.append("flush") } }
    func discard(offset: UInt64, length: UInt64) throws(BlockBackendError) {}
    func writeZeroes(offset: UInt64, length: UInt64, mayUnmap: Bool) throws(BlockBackendError) {}
}

@Suite("virtio-blk durability")
struct BlockDurabilityTests {
    @Test("a write's used entry appears only after the backend finished it; without FLUSH negotiated it is also synced")
    func writeAckAfterCompletion() throws {
        let backend = GatedBackend()
        let device = try VirtioBlockDevice(configuration: .init(path: "gated"), backend: backend)
        let guest = try TestGuest()
        let q = try guest.makeQueue(size: 16)
        let irq = RecordingInterrupts()
        let features = device.offeredFeatures & ~VirtioBlockFeature.flush   // writethrough
        try device.activate(try guest.activation(features: features, queues: [q], interrupts: irq))
        let c = try q.post([.readable(blkHeader(1, sector: 0)), .readable(Array(repeating: 1, count: 512)), .writable(1)])
        try q.notify()
        #expect(backend.entered.wait(timeout: .now() + 20) == .success)
        #expect(try q.usedIndex() == 0)          // the backend has not returned yet
        #expect(try guest.bytes(at: c.writable[0].address, count: 1) == [0xEE])
        backend.release.signal()
        let used = try q.waitUsed(1)
        #expect(used.count == 1)
        #expect(try guest.bytes(at: c.writable[0].address, count: 1) == [0])
        #expect(backend.calls.withLock { $0 } == ["write", "flush"])
        device.reset()
    }
}
