import CDeviceModelShims
#if canImport(Glibc)
import Glibc
#endif

/// Drives one request queue of a ``VhostUserBlockFrontend`` the way a guest's virtio-blk
/// driver would under fio: `queueDepth` requests in flight, each a chain of header (16
/// bytes, device-readable), data (device-readable for a write, device-writable for a read,
/// split into `size_max` segments) and a one-byte status (device-writable); a completed
/// request is checked and its slot reused at once.
///
/// Every slot's chain is laid out once per run, so a request in the hot loop is: write the
/// sector, reset the status byte, take a timestamp, push the head — then one avail-index
/// publish and kick per batch. Completions are reaped in batches after each call
/// notification. Nothing in that loop allocates (the per-slot arrays and the histogram are
/// allocated before the clock starts).
public final class BlockLoadGenerator {
    /// `VIRTIO_BLK_T_IN`/`VIRTIO_BLK_T_OUT` and `VIRTIO_BLK_S_OK` (virtio 1.2 §5.2.6), as the
    /// driver side spells them (the device side's constants are internal to VirtioDevices).
    static let typeRead: UInt32 = 0, typeWrite: UInt32 = 1
    static let statusOK: UInt8 = 0
    /// A status value no device writes, so an untouched status byte is noticed.
    static let statusUnset: UInt8 = 0xff
    /// Bytes per slot for its request header and status byte.
    static let headerSlotBytes = 32
    /// With requests in flight and no completion for this long, the backend is declared stuck.
    static let stallSeconds = 30

    /// The frontend and the request queue driven.
    public let frontend: VhostUserBlockFrontend
    public let queue: Int

    /// Drives request queue `queue` of `frontend`.
    public init(frontend: VhostUserBlockFrontend, queue: Int = 0) throws(StorageBenchError) {
        guard frontend.rings.indices.contains(queue) else {
            throw .badParameter("queue \(queue) is not set up (\(frontend.rings.count) rings)")
        }
        self.frontend = frontend
        self.queue = queue
    }

    /// Guest data bytes a workload with `blockSize` and `queueDepth` needs in the frontend's data area.
    public static func dataBytesNeeded(blockSize: Int, queueDepth: Int) -> Int {
        let headers = (headerSlotBytes * queueDepth + 4095) / 4096 * 4096
        return headers + blockSize * queueDepth
    }

    /// Runs `workload` to its end and returns what it measured.
    ///
    /// - Throws: ``StorageBenchError/requestFailed(queue:sector:status:)`` for any status but
    ///   OK, ``StorageBenchError/unexpectedUsedID(queue:id:)`` for a completion nobody asked
    ///   for, ``StorageBenchError/dataMismatch(sector:byteOffset:)`` when a checked read
    ///   differs, ``StorageBenchError/stalled(queue:inflight:seconds:)`` when the backend stops.
    public func run(_ workload: BlockWorkload) throws(StorageBenchError) -> LoadResult {
        let ring = frontend.rings[queue]
        let memory = frontend.memory
        let device = frontend.device
        let bs = workload.blockSize
        let depth = workload.queueDepth

        // Check the workload against the device and the ring before anything is submitted.
        guard bs > 0, bs % 512 == 0, bs % Int(device.blockSize) == 0 else {
            throw .badParameter("block size \(bs) is not a multiple of the device's \(device.blockSize)-byte blocks")
        }
        guard depth >= 1 else { throw .badParameter("queue depth \(depth)") }
        let segmentLimit = Int(device.sizeMax ?? UInt32(bs))
        guard segmentLimit > 0 else { throw .badDeviceConfig("size_max 0") }
        let segments = (bs + segmentLimit - 1) / segmentLimit
        if let segMax = device.segMax, segMax > 0, segments > Int(segMax) {
            throw .badParameter("\(bs)-byte requests need \(segments) segments, the device takes \(segMax)")
        }
        let perChain = 2 + segments
        guard depth * perChain <= Int(ring.size) else {
            throw .badParameter("queue depth \(depth) × \(perChain) descriptors exceeds the \(ring.size)-entry ring")
        }
        let region = workload.region ?? 0..<device.capacityBytes
        guard region.lowerBound % 512 == 0, region.upperBound <= device.capacityBytes,
              region.count >= UInt64(bs) else {
            throw .badParameter("region \(region) does not hold a \(bs)-byte block on a \(device.capacityBytes)-byte disk")
        }
        let blocksInRegion = UInt64(region.count) / UInt64(bs)
        let headerBase = frontend.dataArea.lowerBound
        let dataBase = headerBase + (Self.headerSlotBytes * depth + 4095) / 4096 * 4096
        guard dataBase + bs * depth <= frontend.dataArea.upperBound else {
            throw .badParameter("\(depth) × \(bs) bytes do not fit the frontend's \(frontend.dataArea.count)-byte data area")
        }
        var remainingToSubmit: Int
        var deadline: UInt64 = .max
        switch workload.length {
        case .requests(let n):
            guard n >= 1 else { throw .badParameter("request count \(n)") }
            remainingToSubmit = n
        case .seconds(let s):
            guard s > 0 else { throw .badParameter("duration \(s) s") }
            remainingToSubmit = .max
            deadline = MonotonicClock.now() + UInt64(s * 1e9)
        }

        // Lay out every slot's chain once.
        let type = workload.pattern.isWrite ? Self.typeWrite : Self.typeRead
        let dataFlags = workload.pattern.isWrite ? 0 : SplitRingDriver.flagWrite
        for s in 0..<depth {
            let head = UInt16(s * perChain)
            let header = headerBase + Self.headerSlotBytes * s
            (memory.base + header).storeBytes(of: type.littleEndian, as: UInt32.self)
            (memory.base + header).storeBytes(of: UInt32(0), toByteOffset: 4, as: UInt32.self)
            ring.setDescriptor(head, address: UInt64(header), length: 16, flags: SplitRingDriver.flagNext, next: head + 1)
            for g in 0..<segments {
                let offset = g * segmentLimit
                let length = min(segmentLimit, bs - offset)
                let d = head + 1 + UInt16(g)
                ring.setDescriptor(d, address: UInt64(dataBase + s * bs + offset), length: UInt32(length),
                                   flags: dataFlags | SplitRingDriver.flagNext, next: d + 1)
            }
            ring.setDescriptor(head + UInt16(perChain - 1), address: UInt64(header + 16), length: 1,
                               flags: SplitRingDriver.flagWrite, next: 0)
        }

        // Per-slot state, allocated before the clock starts.
        var submittedAt = [UInt64](repeating: 0, count: depth)
        var sectorOf = [UInt64](repeating: 0, count: depth)
        var busy = [Bool](repeating: false, count: depth)
        var freeSlots = [Int](unsafeUninitializedCapacity: depth) { buf, n in
            for i in 0..<depth { buf[i] = depth - 1 - i }
            n = depth
        }
        var histogram = LatencyHistogram()
        var random = FastRandom(seed: workload.seed)
        var sequential: UInt64 = 0
        var inflight = 0
        var completed = 0
        var interruptWaits = 0
        var verified: UInt64 = 0
        let pattern = workload.dataPattern

        /// Fills slot `s` with the next request and pushes it (not yet published).
        func submit(_ s: Int) {
            let block = workload.pattern.isRandom ? random.next(below: blocksInRegion) : sequential % blocksInRegion
            sequential &+= 1
            let offset = region.lowerBound + block * UInt64(bs)
            let header = memory.base + headerBase + Self.headerSlotBytes * s
            header.storeBytes(of: (offset / 512).littleEndian, toByteOffset: 8, as: UInt64.self)
            header.storeBytes(of: Self.statusUnset, toByteOffset: 16, as: UInt8.self)
            if let pattern, workload.pattern.isWrite {
                pattern.fill(memory.base + dataBase + s * bs, count: bs, diskOffset: offset)
            }
            sectorOf[s] = offset / 512
            busy[s] = true
            submittedAt[s] = MonotonicClock.now()
            ring.push(head: UInt16(s * perChain))
            inflight += 1
        }

        let polled = workload.completions == .polled
        if polled { ring.suppressInterrupts() }
        var spins = 0

        let start = MonotonicClock.now()
        while inflight < depth, remainingToSubmit > 0, let s = freeSlots.popLast() {
            submit(s)
            remainingToSubmit -= 1
        }
        try ring.publishAndKick()

        var lastProgress = start
        while inflight > 0 {
            var reaped = 0
            while let used = ring.nextUsed() {
                let now = MonotonicClock.now()
                let head = Int(used.id)
                let s = head / perChain
                guard used.id < UInt32(depth * perChain), head % perChain == 0, busy[s] else {
                    throw .unexpectedUsedID(queue: queue, id: used.id)
                }
                let status = (memory.base + headerBase + Self.headerSlotBytes * s).load(fromByteOffset: 16, as: UInt8.self)
                guard status == Self.statusOK else { throw .requestFailed(queue: queue, sector: sectorOf[s], status: status) }
                if let pattern, !workload.pattern.isWrite {
                    if let at = pattern.firstMismatch(memory.base + dataBase + s * bs, count: bs, diskOffset: sectorOf[s] * 512) {
                        throw .dataMismatch(sector: sectorOf[s] + UInt64(at / 512), byteOffset: at % 512)
                    }
                    verified += UInt64(bs)
                }
                histogram.record(now &- submittedAt[s])
                busy[s] = false
                inflight -= 1
                completed += 1
                reaped += 1
                if remainingToSubmit > 0, now < deadline {
                    submit(s)
                    remainingToSubmit -= 1
                } else {
                    freeSlots.append(s)
                }
            }
            if ring.unpublished > 0 { try ring.publishAndKick() }
            if reaped > 0 {
                lastProgress = MonotonicClock.now()
                continue
            }
            guard inflight > 0 else { break }
            if polled {
                // Spin on the used ring; every 256 turns give the CPU away in case the
                // backend waits for this one (a shared machine), and every 4096 read the
                // clock for the stall check.
                swiftdm_cpu_relax()
                spins &+= 1
                if spins & 255 == 0 { sched_yield() }
                if spins & 4095 == 0, MonotonicClock.now() &- lastProgress > UInt64(Self.stallSeconds) * 1_000_000_000 {
                    throw .stalled(queue: queue, inflight: inflight, seconds: Self.stallSeconds)
                }
                continue
            }
            if ring.armInterrupt() { continue }
            interruptWaits += 1
            if !ring.waitForCall(timeoutMs: 1000),
               MonotonicClock.now() &- lastProgress > UInt64(Self.stallSeconds) * 1_000_000_000 {
                throw .stalled(queue: queue, inflight: inflight, seconds: Self.stallSeconds)
            }
        }
        let end = MonotonicClock.now()
        return LoadResult(workload: workload, requests: completed, bytes: UInt64(completed) * UInt64(bs),
                          elapsedNanoseconds: end &- start, latency: histogram, interruptWaits: interruptWaits,
                          verifiedBytes: verified)
    }
}
