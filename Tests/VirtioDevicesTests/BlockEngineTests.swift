import DeviceModel
import Foundation
import HostIO
import Testing
@testable import VirtioDevices

/// virtio-blk behaviour that depends on the I/O engine, run on both.
@Suite("virtio-blk engines")
struct BlockEngineTests {
    @Test("the default engine is io_uring where the host has it")
    func defaultEngine() throws {
        let f = try BlockFixture()
        #expect(f.device.engine == (IOURingAvailability.problem == nil ? .ioUring : .threads))
        let g = try BlockFixture(engine: .threads)
        #expect(g.device.engine == .threads)
    }

    @Test("an image on tmpfs runs inline by default; one on a disk file system does not")
    func inlineForImagesInMemory() throws {
        let shm = "/dev/shm/swiftdm-inline-\(getpid()).img"
        #expect(FileManager.default.createFile(atPath: shm, contents: Data(count: 1 << 20)))
        defer { unlink(shm) }
        let inMemory = try FileBlockBackend(path: shm, readOnly: false)
        #expect(inMemory.memoryFileSystem == "tmpfs")
        let device = try VirtioBlockDevice(configuration: VirtioBlockConfiguration(path: shm), backend: inMemory)
        #expect(device.engine == .inline)
        // The fixture's image is in the temporary directory (a disk here): inline exactly when
        // that is in memory.
        let f = try BlockFixture()
        let fixtureFileSystem = try #require(f.device.backend as? FileBlockBackend).memoryFileSystem
        #expect((f.device.engine == .inline) == (fixtureFileSystem != nil), "\(f.path) on \(fixtureFileSystem ?? "a disk")")
    }

    @Test("a read past the end of an image that shrank under the device is IOERR, data zeroed",
          arguments: BlockIOEngine.allCases)
    func shrunkImage(engine: BlockIOEngine) throws {
        let f = try BlockFixture(engine: engine)
        // 600 KiB left of the 1 MiB the device announced: sector 1199 is the last full one.
        #expect(truncate(f.path, 600 * 1024) == 0)
        let inside = try f.request([.readable(blkHeader(0, sector: 1190)), .writable(4096), .writable(1)])
        #expect(inside.status == 0)
        // Starts inside, ends beyond: the first part arrives, then EOF.
        let straddling = try f.request([.readable(blkHeader(0, sector: 1196)), .writable(4096), .writable(1)])
        #expect(straddling.status == 1)
        #expect(straddling.length == 4097)
        #expect(try f.guest.bytes(at: straddling.chain.writable[0].address, count: 4096) == Array(repeating: 0, count: 4096))
        let beyond = try f.request([.readable(blkHeader(0, sector: 1600)), .writable(512), .writable(1)])
        #expect(beyond.status == 1)
        // The device goes on serving.
        #expect(try f.request([.readable(blkHeader(0, sector: 0)), .writable(512), .writable(1)]).status == 0)
    }

    @Test("cache=none: reads and writes with buffers of any alignment, on both engines", arguments: BlockIOEngine.allCases)
    func cacheNone(engine: BlockIOEngine) throws {
        let f = try BlockFixture(engine: engine) { $0.cache = .none }
        let backend = try #require(f.device.backend as? FileBlockBackend)
        print("cache=none (\(engine)) on \(f.dir.path): \(backend.directIO.map { "O_DIRECT \($0)" } ?? "buffered: \(backend.directIOFallback ?? "?")")")
        let data = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 3 &+ 1) }
        #expect(try f.request([.readable(blkHeader(1, sector: 16)), .readable(Array(data[0..<100])), .readable(Array(data[100...])), .writable(1)]).status == 0)
        #expect(try f.image(at: 16 * 512, count: 4096) == data)
        let r = try f.request([.readable(blkHeader(0, sector: 16)), .writable(4096), .writable(1)])
        #expect(r.status == 0)
        #expect(try f.guest.bytes(at: r.chain.writable[0].address, count: 4096) == data)
        let s = try f.request([.readable(blkHeader(0, sector: 3)), .writable(7), .writable(505), .writable(1)])
        #expect(s.status == 0)
        #expect(try s.chain.writable.dropLast().flatMap { try f.guest.bytes(at: $0.address, count: $0.length) } == (1536..<2048).map(imagePattern))
        #expect(try f.request([.readable(blkHeader(4)), .writable(1)]).status == 0)
    }

    @Test("reset with requests in flight: stop returns only once the ring is idle, nothing is pushed after it",
          arguments: BlockIOEngine.allCases)
    func stopWithRequestsInFlight(engine: BlockIOEngine) throws {
        // Writethrough (FLUSH not negotiated): each write is followed by an fdatasync, so
        // requests are still in the kernel when the reset comes.
        let f = try BlockFixture(engine: engine, features: { $0 & ~VirtioBlockFeature.flush }, imageSize: 8 << 20)
        var chains: [(PostedChain, UInt8)] = []
        for i in 0..<30 {
            let fill = UInt8(i + 1)
            chains.append((try f.q.post([.readable(blkHeader(1, sector: UInt64(i * 256))),
                                         .readable(Array(repeating: fill, count: 128 * 1024)), .writable(1)], indirect: true), fill))
        }
        try f.q.notify()
        usleep(1000)
        f.device.reset()
        for ring in f.device.uringQueues {
            #expect(f.device.service.loop.sync { ring.engine.outstanding } == 0)
        }
        let after = try f.q.usedIndex()
        usleep(50_000)
        #expect(try f.q.usedIndex() == after)
        // Whatever was acknowledged is on the image.
        for u in try f.q.takeUsed() {
            let i = try #require(chains.firstIndex { $0.0.head == UInt16(u.id) })
            #expect(try f.guest.bytes(at: chains[i].0.writable[0].address, count: 1) == [0])
            #expect(try f.image(at: i * 256 * 512, count: 128 * 1024) == Array(repeating: chains[i].1, count: 128 * 1024))
        }
        #expect(f.irq.needsReset.isEmpty)
        // The device serves a fresh activation afterwards.
        let queue = try f.guest.makeQueue(size: 64)
        try f.device.activate(try f.guest.activation(features: f.device.offeredFeatures, queues: [queue], interrupts: f.irq))
        let c = try queue.post([.readable(blkHeader(0, sector: 0)), .writable(512), .writable(1)])
        try queue.notify()
        #expect(try queue.waitUsed(1).count == 1)
        #expect(try f.guest.bytes(at: c.writable[1].address, count: 1) == [0])
    }
}
