import CDeviceModelShims
import Foundation
import HostIO
import Testing

/// The io_uring engine on its own, on a real file, reaped by the test thread.
@Suite("io_uring block engine")
struct UringBlockEngineTests {
    /// An image of `size` bytes of `imagePattern` and an engine on it.
    final class Bench {
        let dir: TemporaryDirectory
        let path: String
        let backend: FileBlockBackend
        let engine: UringBlockEngine

        init(size: Int = 1 << 20, entries: Int = 64, cache: BlockCacheMode = .writeback, in directory: String? = nil) throws {
            dir = try TemporaryDirectory()
            path = (directory.map { "\($0)/swiftdm-uring-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).img" }) ?? dir.file("disk.img")
            guard FileManager.default.createFile(atPath: path, contents: Data((0..<size).map(imagePattern))) else {
                throw TestFailure("cannot create \(path)")
            }
            backend = try FileBlockBackend(path: path, readOnly: false, cache: cache)
            engine = try UringBlockEngine(backend: backend, entries: entries)
        }

        deinit { if !path.hasPrefix(dir.path) { unlink(path) } }

        /// Submits what is queued and reaps until nothing is outstanding.
        func run() {
            engine.submit()
            let deadline = ContinuousClock.now + .seconds(20)
            while engine.outstanding > 0 && ContinuousClock.now < deadline {
                _ = engine.ring.completions.wait(timeoutMs: 100)
                engine.reap()
            }
        }

        func image(at offset: Int, count: Int) throws -> [UInt8] {
            let h = try #require(FileHandle(forReadingAtPath: path))
            defer { try? h.close() }
            try h.seek(toOffset: UInt64(offset))
            return [UInt8](try h.read(upToCount: count) ?? Data())
        }
    }

    /// Host memory for one test, freed at the end.
    final class Buffer {
        let bytes: UnsafeMutableRawBufferPointer
        init(_ count: Int, alignment: Int = 4096, fill: UInt8 = 0) {
            bytes = .allocate(byteCount: count, alignment: alignment)
            bytes.initializeMemory(as: UInt8.self, repeating: fill)
        }
        deinit { bytes.deallocate() }
        func slice(_ r: Range<Int>) -> UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(rebasing: bytes[r]) }
    }

    final class Results {
        var values: [Result<Void, BlockBackendError>] = []
        var completion: UringBlockEngine.Completion { { self.values.append($0) } }
        var allOK: Bool { values.allSatisfy { if case .success = $0 { true } else { false } } }
    }

    @Test("read, write, flush, discard and write-zeroes land on the real file")
    func operationsLandOnTheFile() throws {
        guard BlockEngineCheck.ioUringOrSkip("io_uring operations") else { return }
        let b = try Bench()
        let r = Results()
        let out = Buffer(8192)
        for i in 0..<8192 { out.bytes[i] = UInt8(truncatingIfNeeded: i &* 13 &+ 5) }
        // Two iovecs, one write; then read back into three.
        b.engine.write(from: [out.slice(0..<3000), out.slice(3000..<8192)], at: 64 * 1024, r.completion)
        b.run()
        let back = Buffer(8192)
        b.engine.read(into: [back.slice(0..<512), back.slice(512..<4096), back.slice(4096..<8192)], at: 64 * 1024, r.completion)
        b.engine.flush(r.completion)
        b.run()
        #expect(r.values.count == 3 && r.allOK)
        #expect(Array(back.bytes) == Array(out.bytes))
        #expect(try b.image(at: 64 * 1024, count: 8192) == Array(out.bytes))
        // Discard, then write zeroes with and without unmapping.
        b.engine.discard(offset: 0, length: 4096, r.completion)
        b.engine.writeZeroes(offset: 8192, length: 4096, mayUnmap: false, r.completion)
        b.engine.writeZeroes(offset: 16384, length: 1024, mayUnmap: true, r.completion)
        b.run()
        #expect(r.values.count == 6 && r.allOK)
        if fileSystemPunchesHoles(in: b.dir.path) {
            #expect(try b.image(at: 0, count: 4096) == Array(repeating: 0, count: 4096))
        } else {
            print("SKIP: part of io_uring discard test: \(b.dir.path) does not punch holes")
        }
        #expect(try b.image(at: 8192, count: 4096) == Array(repeating: 0, count: 4096))
        #expect(try b.image(at: 16384, count: 1024) == Array(repeating: 0, count: 1024))
        #expect(try b.image(at: 16384 + 1024, count: 512) == (16384 + 1024..<16384 + 1536).map(imagePattern))
    }

    @Test("more operations than ring entries wait for slots; more than 1024 iovecs go in pieces")
    func ringFullAndLongChains() throws {
        guard BlockEngineCheck.ioUringOrSkip("io_uring ring full") else { return }
        let b = try Bench(entries: 4)
        let r = Results()
        let buffers = (0..<40).map { Buffer(4096, fill: UInt8($0 + 1)) }
        for (i, buf) in buffers.enumerated() { b.engine.write(from: [buf.bytes], at: UInt64(i * 4096), r.completion) }
        b.engine.submit()
        #expect(b.engine.inFlight <= b.engine.ring.entries)
        b.run()
        #expect(r.values.count == 40 && r.allOK)
        for i in 0..<40 { #expect(try b.image(at: i * 4096, count: 4096) == Array(repeating: UInt8(i + 1), count: 4096)) }
        // 1500 iovecs of 512 bytes: UIO_MAXIOV is 1024, so the engine continues where the
        // first readv stopped.
        let big = Buffer(1500 * 512)
        b.engine.read(into: (0..<1500).map { big.slice($0 * 512..<($0 + 1) * 512) }, at: 0, r.completion)
        b.run()
        #expect(r.values.count == 41 && r.allOK)
        #expect(try Array(big.bytes) == b.image(at: 0, count: 1500 * 512))
    }

    @Test("a read past the end of an image that shrank fails with EIO, also when it starts inside")
    func shortReadPastEnd() throws {
        guard BlockEngineCheck.ioUringOrSkip("io_uring short read") else { return }
        let b = try Bench()
        #expect(truncate(b.path, 6000) == 0)
        let r = Results()
        let buf = Buffer(8192, fill: 0xEE)
        b.engine.read(into: [buf.bytes], at: 4096, r.completion)  // 1904 bytes, then EOF
        b.engine.read(into: [buf.bytes], at: 65536, r.completion) // nothing at all
        b.run()
        #expect(r.values.count == 2)
        for v in r.values {
            guard case .failure(.io(_, _, let e)) = v else { Issue.record("expected an I/O error, got \(v)"); continue }
            #expect(e == EIO)
        }
    }

    @Test("cache=none: O_DIRECT where the file system allows it; unaligned buffers bounce, aligned ones go straight")
    func directIO() throws {
        guard BlockEngineCheck.ioUringOrSkip("io_uring O_DIRECT") else { return }
        for directory in [nil, "/dev/shm"] as [String?] {
            if let directory, !FileManager.default.fileExists(atPath: directory) { continue }
            let b = try Bench(cache: .none, in: directory)
            print("cache=none on \(directory ?? b.dir.path): O_DIRECT \(b.backend.directIO.map { "\($0)" } ?? "no (\(b.backend.directIOFallback ?? "?"))")")
            let r = Results()
            let raw = Buffer(16384 + 7, alignment: 4096)
            let unaligned = raw.slice(7..<(7 + 4096))          // address not aligned
            let aligned = raw.slice(8192..<(8192 + 4096))
            for i in 0..<4096 { unaligned[i] = UInt8(truncatingIfNeeded: i ^ 0x5A) }
            b.engine.write(from: [unaligned], at: 4096, r.completion)
            b.run()
            b.engine.read(into: [aligned], at: 4096, r.completion)
            let odd = Buffer(1024)
            b.engine.read(into: [odd.slice(1..<101), odd.slice(101..<513)], at: 512, r.completion)  // odd lengths too
            b.run()
            #expect(r.values.count == 3 && r.allOK, "\(r.values)")
            let same = Array(aligned) == Array(unaligned)
            #expect(same, "the aligned read-back differs from the unaligned write")
            let expected = Array(odd.slice(1..<513)) == (512..<1024).map(imagePattern)
            #expect(expected, "the odd-length read differs from the image")
        }
    }
}
