import DeviceModel
import Foundation
import HostIO
import Testing
@testable import VirtioDevices

/// A buffered image on tmpfs is copied through a mapping of the whole file (`ImageMapping`):
/// the same bytes as `preadv`/`pwritev` would move, and a file that shrinks under it fails
/// requests with IOERR instead of killing the process with SIGBUS.
@Suite("virtio-blk on a mapped tmpfs image", .enabled(if: FileManager.default.fileExists(atPath: "/dev/shm"), "needs /dev/shm (tmpfs)"))
struct MappedImageTests {
    static func fixture(engine: BlockIOEngine = .inline) throws -> (BlockFixture, FileBlockBackend) {
        let f = try BlockFixture(engine: engine, directory: "/dev/shm")
        let backend = try #require(f.device.backend as? FileBlockBackend)
        return (f, backend)
    }

    @Test("reads see the file and writes reach it, on the inline engine and the thread pool",
          arguments: [BlockIOEngine.inline, .threads])
    func readsAndWrites(engine: BlockIOEngine) throws {
        let (f, backend) = try Self.fixture(engine: engine)
        #expect(backend.copiesThroughMapping)
        let read = try f.request([.readable(blkHeader(0, sector: 100)), .writable(1000), .writable(3096), .writable(1)])
        #expect(read.status == 0)
        let expected = (100 * 512..<100 * 512 + 4096).map(imagePattern)
        #expect(try f.guest.bytes(at: read.chain.writable[0].address, count: 1000) == Array(expected[0..<1000]))
        #expect(try f.guest.bytes(at: read.chain.writable[1].address, count: 3096) == Array(expected[1000...]))
        let data = (0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        #expect(try f.request([.readable(blkHeader(1, sector: 2032)), .readable(Array(data[0..<5])), .readable(Array(data[5...])),
                               .writable(1)]).status == 0)
        // Through the file itself, not the mapping.
        #expect(try f.image(at: 2032 * 512, count: 4096) == Array(data[0..<4096]))
        #expect(try f.image(at: 2040 * 512, count: 4096) == Array(data[4096...]))
    }

    @Test("an image that shrank under the device: IOERR past its end, no SIGBUS, and the device goes on serving")
    func shrunkUnderTheMapping() throws {
        let (f, backend) = try Self.fixture()
        #expect(truncate(f.path, 600 * 1024) == 0)
        #expect(try f.request([.readable(blkHeader(0, sector: 1190)), .writable(4096), .writable(1)]).status == 0)
        // The pages past the new end fault; the guard maps zeroes there and the read fails.
        let straddling = try f.request([.readable(blkHeader(0, sector: 1196)), .writable(4096), .writable(1)])
        #expect(straddling.status == 1)
        // The faulted mapping is dropped for good: the rest is preadv/pwritev, which sees EOF.
        #expect(!backend.copiesThroughMapping)
        #expect(try f.request([.readable(blkHeader(0, sector: 1600)), .writable(512), .writable(1)]).status == 1)
        #expect(try f.request([.readable(blkHeader(1, sector: 1600)), .readable(Array(repeating: 1, count: 512)), .writable(1)]).status == 0)
        #expect(try f.request([.readable(blkHeader(0, sector: 0)), .writable(512), .writable(1)]).status == 0)
    }

    @Test("a write into pages that vanished is IOERR, never acknowledged")
    func writeIntoVanishedPages() throws {
        let (f, _) = try Self.fixture()
        #expect(truncate(f.path, 64 * 1024) == 0)
        let write = try f.request([.readable(blkHeader(1, sector: 1000)), .readable(Array(repeating: 0xAB, count: 4096)), .writable(1)])
        #expect(write.status == 1)
    }

    @Test("growing the image maps it again: the new sectors read through the mapping")
    func grown() throws {
        let (f, backend) = try Self.fixture()
        try f.device.resize(to: UInt64(2 * BlockFixture.imageSize))
        #expect(backend.copiesThroughMapping)
        let data = Array(repeating: UInt8(0x5A), count: 4096)
        #expect(try f.request([.readable(blkHeader(1, sector: 3000)), .readable(data), .writable(1)]).status == 0)
        #expect(try f.image(at: 3000 * 512, count: 4096) == data)
    }

    @Test("cache=none keeps O_DIRECT transfers: nothing is mapped")
    func directIOIsNotMapped() throws {
        let f = try BlockFixture(engine: .inline, { $0.cache = .none }, directory: "/dev/shm")
        let backend = try #require(f.device.backend as? FileBlockBackend)
        #expect(backend.copiesThroughMapping == (backend.directIO == nil))
    }
}
