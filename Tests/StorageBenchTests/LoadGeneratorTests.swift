import Foundation
import StorageBench
import SwiftdmTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The load generator end to end against real backends as processes: data written through
/// the rings with a pattern is read back and checked through them, then checked again in the
/// image file itself, and the counters add up. No timing assertions: the machines are shared.
enum BackendExercise {
    static let blockSize = 4096
    /// Two 1 MiB regions: one written at queue depth 1, one at 8.
    static let regionBlocks = 256

    /// A scratch directory on tmpfs (/dev/shm) where there is one, as the bench uses: on a
    /// disk, qemu-storage-daemon's O_DIRECT writes wait for the device (seconds under load).
    /// Short enough for socket paths.
    static func scratchDirectory() throws -> String {
        var isDirectory: ObjCBool = false
        let base = FileManager.default.fileExists(atPath: "/dev/shm", isDirectory: &isDirectory) && isDirectory.boolValue ? "/dev/shm" : "/tmp"
        var template = Array("\(base)/storagebench-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw StorageBenchError.system(call: "mkdtemp", errno: errno) }
        return String(cString: p)
    }

    /// Starts `command` (serving `image` on `socket`), writes and reads back with checks, and
    /// stops it; returns nothing, records failures with `#expect`.
    static func run(command: [String], kind: BlockBackendKind, image: String, socket: String, eventIndex: Bool) throws {
        let backend = try BlockBackendProcess(kind: kind, command: command, socket: socket)
        defer { backend.stop() }
        let frontend = try VhostUserBlockFrontend(
            socketPath: socket,
            options: .init(eventIndex: eventIndex, dataBytes: BlockLoadGenerator.dataBytesNeeded(blockSize: blockSize, queueDepth: 8)))
        defer { frontend.disconnect() }
        #expect(frontend.device.capacityBytes == 16 << 20)
        #expect(frontend.device.blockSize == 512 || frontend.device.blockSize == 4096)
        let generator = try BlockLoadGenerator(frontend: frontend)
        let pattern = DataPattern(seed: UInt64(getpid()) &* 31 &+ (eventIndex ? 1 : 0))
        let region = UInt64(regionBlocks * blockSize)

        // Sequential writes cover each region exactly once.
        for (depth, range) in [(1, 0..<region), (8, region..<2 * region)] {
            let w = try generator.run(BlockWorkload(.sequentialWrite, blockSize: blockSize, queueDepth: depth,
                                                    length: .requests(regionBlocks), region: range, dataPattern: pattern))
            #expect(w.requests == regionBlocks)
            #expect(w.bytes == UInt64(regionBlocks * blockSize))
            #expect(w.latency.count == UInt64(regionBlocks))
        }
        // Random reads over both regions, each checked against the pattern.
        for (depth, count) in [(1, 300), (8, 500)] {
            let r = try generator.run(BlockWorkload(.randomRead, blockSize: blockSize, queueDepth: depth, length: .requests(count),
                                                    region: 0..<2 * region, dataPattern: pattern, seed: UInt64(depth)))
            #expect(r.requests == count)
            #expect(r.verifiedBytes == UInt64(count * blockSize))
            #expect(r.latency.count == UInt64(count))
            #expect(r.iops > 0 && r.p99Microseconds >= r.p50Microseconds)
        }
        // A 1 MiB read (one request spanning the QD8 region) is checked too.
        let big = try generator.run(BlockWorkload(.sequentialRead, blockSize: 1 << 20, queueDepth: 1, length: .requests(1),
                                                  region: region..<2 * region, dataPattern: pattern))
        #expect(big.verifiedBytes == 1 << 20)
        frontend.disconnect()
        backend.stop()

        // What reached the image file: the same checksum as the pattern.
        let data = try #require(FileManager.default.contents(atPath: image))
        let written = Array(data.prefix(Int(2 * region)))
        #expect(checksum(written) == checksum(pattern.bytes(count: Int(2 * region), diskOffset: 0)),
                "image contents differ from the pattern written")
    }

    /// FNV-1a over the bytes.
    static func checksum(_ bytes: [UInt8]) -> UInt64 {
        bytes.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }

    static func makeImage(in dir: String) throws -> String {
        let path = dir + "/disk.img"
        guard FileManager.default.createFile(atPath: path, contents: nil), truncate(path, 16 << 20) == 0 else {
            throw StorageBenchError.system(call: "create \(path)", errno: errno)
        }
        return path
    }
}

@Suite("Load generator on swiftdm vhost-user --blk",
       .enabled(if: SwiftdmExecutable.path != nil, "needs the swiftdm executable next to the test bundle (see the SKIP line)"))
struct SwiftdmLoadTests {
    @Test("writes a pattern at QD 1 and 8, reads it back and checked, image matches", arguments: [true, false])
    func roundTrip(eventIndex: Bool) throws {
        let dir = try BackendExercise.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let image = try BackendExercise.makeImage(in: dir)
        let socket = dir + "/blk.sock"
        let swiftdm = try #require(SwiftdmExecutable.path)
        try BackendExercise.run(command: BlockBackendCommand.swiftdm(swiftdm, image: image, socket: socket), kind: .swiftdm,
                                image: image, socket: socket, eventIndex: eventIndex)
    }

    @Test("workloads the device or ring cannot take are refused before anything is sent")
    func refusals() throws {
        let dir = try BackendExercise.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let image = try BackendExercise.makeImage(in: dir)
        let socket = dir + "/blk.sock"
        let swiftdm = try #require(SwiftdmExecutable.path)
        let backend = try BlockBackendProcess(kind: .swiftdm, command: BlockBackendCommand.swiftdm(swiftdm, image: image, socket: socket), socket: socket)
        defer { backend.stop() }
        let frontend = try VhostUserBlockFrontend(socketPath: socket, options: .init(dataBytes: 1 << 20))
        defer { frontend.disconnect() }
        let generator = try BlockLoadGenerator(frontend: frontend)
        // The region check refuses a range past the disk before anything is sent…
        #expect(throws: StorageBenchError.self) {
            try generator.run(BlockWorkload(.randomRead, blockSize: 4096, queueDepth: 1, length: .requests(1), region: 0..<(32 << 20)))
        }
        // …and a queue deeper than the ring allows is refused too.
        #expect(throws: StorageBenchError.badParameter("queue depth 100 × 3 descriptors exceeds the 256-entry ring")) {
            try generator.run(BlockWorkload(.randomRead, blockSize: 4096, queueDepth: 100, length: .requests(1)))
        }
    }
}

/// qemu-storage-daemon on `PATH`, or `nil` after a loud SKIP line (CI installs it with
/// qemu-system-x86, which depends on qemu-system-common).
let installedQemuStorageDaemon: String? = {
    let path = StorageBenchOptions.defaults(quick: true).qemuStorageDaemon
    if path == nil {
        print("SKIP: ******** qemu-storage-daemon is not installed (Debian: qemu-system-common): the load generator is not run against it ********")
    }
    return path
}()

@Suite("Load generator on qemu-storage-daemon",
       .enabled(if: installedQemuStorageDaemon != nil, "qemu-storage-daemon is not installed (see the SKIP line)"))
struct QemuStorageDaemonLoadTests {
    @Test("writes a pattern at QD 1 and 8, reads it back and checked, image matches")
    func roundTrip() throws {
        let qsd = try #require(installedQemuStorageDaemon)
        let dir = try BackendExercise.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let image = try BackendExercise.makeImage(in: dir)
        let socket = dir + "/blk.sock"
        let command = BlockBackendCommand.qemuStorageDaemon(qsd, image: image, socket: socket,
                                                            directIO: BenchImage.supportsDirectIO(image))
        try BackendExercise.run(command: command, kind: .qemuStorageDaemon, image: image, socket: socket, eventIndex: true)
    }

    @Test("two request queues (MQ, GET_QUEUE_NUM): each carries checked I/O")
    func twoQueues() throws {
        let qsd = try #require(installedQemuStorageDaemon)
        let dir = try BackendExercise.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let image = try BackendExercise.makeImage(in: dir)
        let socket = dir + "/blk.sock"
        let command = BlockBackendCommand.qemuStorageDaemon(qsd, image: image, socket: socket,
                                                            directIO: BenchImage.supportsDirectIO(image), queues: 2)
        let backend = try BlockBackendProcess(kind: .qemuStorageDaemon, command: command, socket: socket)
        defer { backend.stop() }
        let frontend = try VhostUserBlockFrontend(socketPath: socket, options: .init(queues: 2, dataBytes: 1 << 20))
        defer { frontend.disconnect() }
        #expect(frontend.protocolFeatures.contains(.multiQueue))
        #expect(frontend.device.queues == 2 && frontend.rings.count == 2)
        let pattern = DataPattern(seed: 0x2b)
        for queue in 0..<2 {
            let generator = try BlockLoadGenerator(frontend: frontend, queue: queue)
            let region = UInt64(queue) << 20..<UInt64(queue + 1) << 20
            let w = try generator.run(BlockWorkload(.sequentialWrite, blockSize: 4096, queueDepth: 8, length: .requests(256),
                                                    region: region, dataPattern: pattern))
            #expect(w.requests == 256)
            let r = try generator.run(BlockWorkload(.randomRead, blockSize: 4096, queueDepth: 8, length: .requests(300),
                                                    region: region, dataPattern: pattern))
            #expect(r.verifiedBytes == 300 * 4096)
        }
    }
}
