import Foundation
import SwiftdmTestSupport
import Testing
@testable import VhostUser

/// `swiftdm vhost-user --blk IMAGE` killed with SIGKILL at random points of a write-heavy
/// workload, round after round, by a frontend that keeps its guest RAM, rings and inflight
/// buffer and reconnects to a fresh backend each time, as QEMU's vhost-user-blk does.
///
/// It records every write it saw acknowledged and checks: the acknowledged data is in the
/// image file the moment the status arrives (and at every flush's status, all of it is);
/// after each kill, every sector holds its last acknowledged data, or — with a write still in
/// flight — that write's data; and every request a killed backend left in flight is
/// resubmitted by the next backend and completes (exactly once: no used entry appears twice).
@Suite("swiftdm vhost-user --blk killed with SIGKILL", .enabled(if: SwiftdmExecutable.path != nil, "needs the swiftdm executable"),
       .serialized)
struct BackendKillTests {
    static let sectors = 2048
    static let rounds = 8

    /// SplitMix64: a seeded generator, so a failing run can be repeated (the seed is printed).
    struct SeededRandom: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
    }

    /// What the frontend knows about the image.
    struct Model {
        /// The last acknowledged content of each sector.
        var acked: [[UInt8]]
        /// Sectors with a write in flight, and the data it carries.
        var pending: [Int: [UInt8]] = [:]
        /// Sectors with reads in flight (no write is sent to them meanwhile, so a read has
        /// exactly one right answer).
        var reading: [Int: Int] = [:]
        var writesAcked = 0
        var flushesAcked = 0
        var readsChecked = 0

        init(sectors: Int) { acked = Array(repeating: [UInt8](repeating: 0, count: BlockFrontend.sectorSize), count: sectors) }
    }

    final class Image {
        let path: String
        let fd: Int32
        init(sectors: Int) {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("swiftdm-kill9-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).img").path
            fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
            precondition(fd >= 0 && ftruncate(fd, off_t(sectors * BlockFrontend.sectorSize)) == 0)
        }
        deinit {
            close(fd)
            unlink(path)
        }
        func sector(_ s: Int) -> [UInt8] {
            var b = [UInt8](repeating: 0, count: BlockFrontend.sectorSize)
            _ = pread(fd, &b, b.count, off_t(s * BlockFrontend.sectorSize))
            return b
        }
    }

    private func startBackend(socket: String, image: String, log: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: SwiftdmExecutable.path!)
        p.arguments = ["vhost-user", "--socket", socket, "--blk", image]
        p.standardOutput = FileHandle.nullDevice
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        p.standardError = FileHandle(forWritingAtPath: log)
        try p.run()
        return p
    }

    @Test(arguments: [false, true])
    func acknowledgedWritesSurviveAndNoRequestIsLost(flushNegotiated: Bool) throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SeededRandom(state: seed)
        let context = "seed \(seed), FLUSH \(flushNegotiated ? "negotiated" : "not negotiated")"
        let image = Image(sectors: Self.sectors)
        let socket = "/tmp/sdm-kill9-\(getpid())-\(flushNegotiated).sock"
        let log = "/tmp/sdm-kill9-\(getpid())-\(flushNegotiated).log"
        defer { unlink(log) }
        var model = Model(sectors: Self.sectors)
        var frontend: FakeFrontend?
        var blk: BlockFrontend?
        var inflightBuffer: (payload: [UInt8], fd: Int32)?
        defer { if let fd = inflightBuffer?.fd { close(fd) } }
        var leftInFlight = 0
        var takenByKilled = 0
        var serial: UInt32 = 0

        for round in 0..<Self.rounds {
            let backend = try startBackend(socket: socket, image: image.path, log: log)
            defer { if backend.isRunning { kill(backend.processIdentifier, SIGKILL); backend.waitUntilExit() } }
            let f: FakeFrontend
            if let frontend {
                guard frontend.reconnect(to: socket) != nil else {
                    let state = backend.isRunning ? "still running" : "exited with \(backend.terminationStatus)"
                    let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                    Issue.record("round \(round): no backend on \(socket) (\(context)); the backend \(state), its log: \(output)")
                    return
                }
                f = frontend
            } else {
                f = try #require(FakeFrontend(connectingTo: socket), "no backend on \(socket)")
                f.ringSize = 128
                frontend = f
                blk = BlockFrontend(f)
            }
            let b = blk!
            let offered = VhostUserProtocolFeatures(rawValue: try #require(f.getU64(.getProtocolFeatures)))
            #expect(offered.contains(.inflightSharedMemory), "swiftdm vhost-user --blk does not offer INFLIGHT_SHMFD")
            f.negotiate(features: flushNegotiated ? 1 << 9 : 0, protocolFeatures: offered)
            // (Without the feature the rest still runs, and shows what is lost.)
            if inflightBuffer == nil && offered.contains(.inflightSharedMemory) {
                inflightBuffer = f.getInflightFD(queueSize: f.ringSize)
            }
            if let buffer = inflightBuffer {
                // What the killed backend had taken from the ring and not returned (only the
                // inflight buffer knows: the avail ring has moved past them).
                if let view = InflightView(fd: dup(buffer.fd), size: Int(FakeFrontend.u64(buffer.payload))) {
                    takenByKilled += view.inflightHeads(below: f.ringSize).count
                }
                f.send(.setInflightFD, payload: buffer.payload, fds: [buffer.fd])
            }
            // QEMU restarts a ring whose backend died at the used index.
            f.setUpRing(base: f.usedIndex)
            #expect(f.sync(), "round \(round): backend did not answer (\(context))")

            // Everything the killed backend had taken completes now.
            let left = b.inflight.count
            leftInFlight += left
            let deadline = Date().addingTimeInterval(10)
            while !b.inflight.isEmpty && Date() < deadline {
                _ = f.call.wait(timeoutMs: 20)
                try check(b.reap(), &model, image, context)
            }
            #expect(b.inflight.isEmpty, "round \(round): \(b.inflight.count) of \(left) requests left in flight by the killed backend never completed (\(context))")

            // Keep the ring busy while another thread SIGKILLs the backend at a random point.
            let pid = backend.processIdentifier
            let delay = Double.random(in: 0.002...0.060, using: &rng)
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: delay)
                kill(pid, SIGKILL)
            }
            while backend.isRunning {
                while b.hasFreeSlot {
                    let dice = Int.random(in: 0..<100, using: &rng)
                    if dice < 8 && flushNegotiated {
                        b.submit(.flush)
                    } else if dice < 14 {
                        let start = Int.random(in: 0..<Self.sectors - BlockFrontend.maxSectors, using: &rng)
                        let count = Int.random(in: 1...BlockFrontend.maxSectors, using: &rng)
                        guard (start..<start + count).allSatisfy({ model.pending[$0] == nil }) else { continue }
                        for s in start..<start + count { model.reading[s, default: 0] += 1 }
                        b.submit(.read, sector: UInt64(start), readSectors: count)
                    } else {
                        let count = Int.random(in: 1...BlockFrontend.maxSectors, using: &rng)
                        let start = Int.random(in: 0..<Self.sectors - count, using: &rng)
                        guard (start..<start + count).allSatisfy({ model.pending[$0] == nil && model.reading[$0] == nil }) else { continue }
                        serial += 1
                        var data: [UInt8] = []
                        for s in start..<start + count {
                            // Each sector's content names the write and the sector.
                            var sector = FakeFrontend.le(UInt64(serial), 4) + FakeFrontend.le(UInt64(s), 4)
                            sector += (8..<BlockFrontend.sectorSize).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(serial)) }
                            model.pending[s] = sector
                            data += sector
                        }
                        b.submit(.write, sector: UInt64(start), data: data)
                    }
                }
                _ = f.call.wait(timeoutMs: 1)
                try check(b.reap(), &model, image, context)
            }
            backend.waitUntilExit()
            try check(b.reap(), &model, image, context)

            // After the kill: acknowledged data is on the image; a sector with a write in
            // flight holds the old or the new data.
            for s in 0..<Self.sectors {
                let onDisk = image.sector(s)
                if let new = model.pending[s] {
                    #expect(onDisk == model.acked[s] || onDisk == new, "round \(round): sector \(s) holds neither its acknowledged nor its in-flight data (\(context))")
                } else {
                    #expect(onDisk == model.acked[s], "round \(round): acknowledged sector \(s) lost after SIGKILL (\(context))")
                }
            }
            #expect(b.unexpectedUsedIDs.isEmpty, "used entries for requests not in flight: \(b.unexpectedUsedIDs) (\(context))")
        }
        // The last backend's leftovers: one more backend finishes them.
        let final = try startBackend(socket: socket, image: image.path, log: log)
        defer { if final.isRunning { kill(final.processIdentifier, SIGKILL); final.waitUntilExit() } }
        let f = try #require(frontend)
        let b = try #require(blk)
        try #require(f.reconnect(to: socket) != nil)
        let offered = VhostUserProtocolFeatures(rawValue: try #require(f.getU64(.getProtocolFeatures)))
        f.negotiate(features: flushNegotiated ? 1 << 9 : 0, protocolFeatures: offered)
        if let buffer = inflightBuffer { f.send(.setInflightFD, payload: buffer.payload, fds: [buffer.fd]) }
        f.setUpRing(base: f.usedIndex)
        leftInFlight += b.inflight.count
        let deadline = Date().addingTimeInterval(10)
        while !b.inflight.isEmpty && Date() < deadline {
            _ = f.call.wait(timeoutMs: 20)
            try check(b.reap(), &model, image, context)
        }
        #expect(b.inflight.isEmpty && model.pending.isEmpty, "\(b.inflight.count) requests never completed (\(context))")
        for s in 0..<Self.sectors { #expect(image.sector(s) == model.acked[s], "sector \(s) after the last backend (\(context))") }
        print("kill -9 (\(context)): \(Self.rounds) rounds, \(model.writesAcked) writes and \(model.flushesAcked) flushes acknowledged, \(model.readsChecked) reads checked, \(leftInFlight) requests left in flight by killed backends (\(takenByKilled) of them already taken, so resubmitted), all completed")
    }

    /// Applies completions to the model, checking each against the image file.
    private func check(_ done: [(request: BlockFrontend.Request, status: UInt8, readData: [UInt8])],
                       _ model: inout Model, _ image: Image, _ context: String) throws {
        for (r, status, readData) in done {
            #expect(status == 0, "\(r.kind) at sector \(r.sector) completed with status \(status) (\(context))")
            guard status == 0 else { continue }
            let start = Int(r.sector)
            switch r.kind {
            case .write:
                for i in 0..<r.data.count / BlockFrontend.sectorSize {
                    let sector = Array(r.data[i * BlockFrontend.sectorSize..<(i + 1) * BlockFrontend.sectorSize])
                    model.acked[start + i] = sector
                    model.pending[start + i] = nil
                    // Acknowledged means written: the data is in the file now.
                    #expect(image.sector(start + i) == sector, "write acknowledged but sector \(start + i) not in the image (\(context))")
                }
                model.writesAcked += 1
            case .flush:
                // Everything acknowledged so far (in particular before the flush) is in the file.
                for s in 0..<Self.sectors where model.pending[s] == nil {
                    #expect(image.sector(s) == model.acked[s], "flush acknowledged but sector \(s) is not in the image (\(context))")
                }
                model.flushesAcked += 1
            case .read:
                #expect(readData.count == r.readSectors * BlockFrontend.sectorSize, "read of \(r.readSectors) sectors returned \(readData.count) bytes (\(context))")
                for i in 0..<r.readSectors {
                    if readData.count >= (i + 1) * BlockFrontend.sectorSize {
                        let got = Array(readData[i * BlockFrontend.sectorSize..<(i + 1) * BlockFrontend.sectorSize])
                        #expect(got == model.acked[start + i], "read of sector \(start + i) returned stale data (\(context))")
                    }
                    let left = (model.reading[start + i] ?? 1) - 1
                    model.reading[start + i] = left > 0 ? left : nil
                }
                model.readsChecked += 1
            }
        }
    }
}
