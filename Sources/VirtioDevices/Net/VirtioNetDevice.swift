import DeviceModel
import HostIO
import Logging
import Synchronization
import Virtio

/// virtio-net (virtio 1.2 §5.1): rx/tx queue pairs and a control queue, backed by one
/// ``PacketBackend`` per pair (a tap device's queues in production) whose frames carry the
/// 12-byte header (``VirtioNetHeader/size``, a `TapDevice` with its default vnet header size).
/// With more than one pair the device offers `VIRTIO_NET_F_MQ` (§5.1.6.5.5).
///
/// Each pair's data path runs on its own I/O thread (an ``EventLoop`` per pair, as netback
/// runs a thread per queue), never on a vCPU: tx on the tx kick, rx when the backend has
/// frames *and* the guest has posted buffers — when it has none, the device stops reading
/// the backend until the next rx kick (back-pressure, no busy loop). The control queue runs
/// on the first pair's thread.
///
/// Offloads follow the backend: the device offers the checksum/TSO/UFO/USO features the
/// backend handles, and tells it (`TUNSETOFFLOAD` for a tap) which receive offloads the
/// guest negotiated — at activation, on `VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET`, and back to
/// none on reset.
public final class VirtioNetDevice: VirtioDevice {
    public let deviceType = VirtioDeviceType.network
    public let configuration: VirtioNetConfiguration
    /// One backend per queue pair: pair `i` sends and receives on `backends[i]`.
    public let backends: [any PacketBackend]
    /// The first pair's backend.
    public var backend: any PacketBackend { backends[0] }
    public let offeredFeatures: UInt64
    /// The I/O threads: pair `i` on `loops[i]`; the control queue on the first.
    let loops: [EventLoop]
    /// The first pair's (and the control queue's) I/O thread.
    var loop: EventLoop { loops[0] }
    private let logger: Logger
    /// The threads the device started (and stops); a loop passed in is the caller's.
    private let ownedLoops: [EventLoop]

    /// The MAC address: read by config accesses (vCPU threads), changed by the control queue
    /// (I/O thread) or legacy config writes; back to the configured one on reset.
    let mac: NetMACState
    /// The running pairs' data paths, the first pair's first (it runs the control queue).
    let dataPaths = Mutex<[NetDataPath]>([])

    /// Queue indices (§5.1.2): pair `i`'s are `2i` (rx) and `2i + 1` (tx), the control queue
    /// follows the last pair; these are the first pair's, and the control queue's with one.
    static let rxQueue = 0
    static let txQueue = 1
    static let ctrlQueue = 2
    /// The control queue's index: after every pair's rx and tx.
    var controlQueue: Int { 2 * configuration.queuePairs }
    /// Control queue size (QEMU uses 64; commands are small and synchronous).
    static let ctrlQueueSize: UInt16 = 64

    /// Creates a device with one queue pair on `backend`. Without `loop`, it starts its own
    /// I/O thread.
    public convenience init(configuration: VirtioNetConfiguration, backend: any PacketBackend, loop: EventLoop? = nil,
                            logger: Logger = Logger(label: "swiftdm.virtio-net")) throws(VirtioNetError) {
        try self.init(configuration: configuration, backends: [backend], loop: loop, logger: logger)
    }

    /// Creates a device with `configuration.queuePairs` pairs, pair `i` on `backends[i]`
    /// (as many backends as pairs). The first pair runs on `loop` if given; every other
    /// pair on an I/O thread of its own.
    public init(configuration: VirtioNetConfiguration, backends: [any PacketBackend], loop: EventLoop? = nil,
                logger: Logger = Logger(label: "swiftdm.virtio-net")) throws(VirtioNetError) {
        try configuration.validate()
        guard backends.count == configuration.queuePairs else {
            throw .backendCount(backends: backends.count, queuePairs: configuration.queuePairs)
        }
        self.configuration = configuration
        self.backends = backends
        self.logger = logger
        // A device offers only what every pair's backend handles.
        let offloads = backends.dropFirst().reduce(backends[0].supportedOffloads) { $0.intersection($1.supportedOffloads) }
        typealias F = VirtioNetFeature
        offeredFeatures = VirtioFeature.version1 | VirtioFeature.eventIndex | VirtioFeature.indirectDescriptors
            | F.mac | F.status | F.mtu | F.mergeableRxBuffers
            | F.ctrlVQ | F.ctrlRx | F.ctrlRxExtra | F.ctrlMACAddr | F.ctrlGuestOffloads
            | F.offloadFeatures(for: offloads)
            | (configuration.queuePairs > 1 ? F.mq : 0)
        var owned: [EventLoop] = []
        var loops: [EventLoop] = loop.map { [$0] } ?? []
        while loops.count < configuration.queuePairs {
            let name = loops.isEmpty ? "virtio-net" : "virtio-net/\(loops.count)"
            do {
                let started = try EventLoop(name: name)
                owned.append(started)
                loops.append(started)
            } catch {
                for l in owned { l.shutdown() }
                throw .eventLoop(error)
            }
        }
        self.loops = loops
        self.ownedLoops = owned
        self.mac = NetMACState(configuration.mac)
    }

    deinit {
        stopDataPath()
        for l in ownedLoops { l.shutdown() }
    }

    public var queueMaxSizes: [UInt16] {
        Array(repeating: configuration.queueSize, count: 2 * configuration.queuePairs) + [Self.ctrlQueueSize]
    }

    /// `struct virtio_net_config` (§5.1.4): mac[6], status le16 (LINK_UP),
    /// max_virtqueue_pairs le16 (only meaningful with MQ), mtu le16.
    public func readConfig() -> [UInt8] {
        var bytes = mac.address.bytes
        bytes += [1, 0]   // VIRTIO_NET_S_LINK_UP
        bytes += [UInt8(truncatingIfNeeded: configuration.queuePairs), UInt8(truncatingIfNeeded: configuration.queuePairs >> 8)]
        bytes += [UInt8(truncatingIfNeeded: configuration.mtu), UInt8(truncatingIfNeeded: configuration.mtu >> 8)]
        return bytes
    }

    /// The MAC is writable through config space only for legacy drivers (§5.1.4.2); modern
    /// drivers use `VIRTIO_NET_CTRL_MAC_ADDR_SET`. Other fields are read-only.
    public func writeConfig(offset: Int, bytes: [UInt8]) {
        guard offset >= 0, offset < 6 else { return }
        mac.write(bytes: bytes, at: offset)
    }

    public func activate(_ activation: VirtioActivation) throws(VirtioDeviceError) {
        guard let rx = activation.queue(Self.rxQueue) else { throw .missingQueue(Self.rxQueue) }
        guard let tx = activation.queue(Self.txQueue) else { throw .missingQueue(Self.txQueue) }
        // Bits whose §5.1.3.1 requirements the driver left out count as not negotiated.
        let features = VirtioNetFeature.effective(activation.features)
        let ctrl = features & VirtioNetFeature.ctrlVQ != 0 ? activation.queue(controlQueue) : nil
        stopDataPath()
        let offloads = VirtioNetFeature.receiveOffloads(for: features)
        do {
            for b in backends { try b.setOffloads(offloads) }
        } catch {
            throw .host(what: "virtio-net: \(error)", errno: Self.errno(of: error))
        }
        var paths = [NetDataPath(pair: 0, backend: backend, loop: loop, mac: mac, mtu: configuration.mtu, logger: logger,
                                 features: features, memory: activation.memory, interrupts: activation.interrupts,
                                 rx: rx, tx: tx, ctrl: ctrl, maximumPairs: configuration.queuePairs)]
        // Pairs whose rings are not set up are not served: a vhost-user frontend starts a
        // pair's rings only once the guest uses it.
        for pair in 1..<configuration.queuePairs {
            guard let rx = activation.queue(2 * pair), let tx = activation.queue(2 * pair + 1) else {
                // Nobody reads this pair's tap queue: the host must not steer flows to it.
                Self.detach(backends[pair], logger: logger)
                continue
            }
            paths.append(NetDataPath(pair: pair, backend: backends[pair], loop: loops[pair], mac: mac, mtu: configuration.mtu,
                                     logger: logger, features: features, memory: activation.memory,
                                     interrupts: activation.interrupts, rx: rx, tx: tx, ctrl: nil,
                                     maximumPairs: configuration.queuePairs))
        }
        // With a control queue, a driver that negotiated MQ starts on one pair and enables
        // more with VQ_PAIRS_SET (§5.1.6.5.5); without one (vhost-user: the frontend keeps
        // the control queue and starts the rings of the pairs in use) every started pair runs.
        let activePairs = ctrl == nil ? configuration.queuePairs : 1
        paths[0].peers = Array(paths.dropFirst())
        paths[0].activePairs = activePairs
        logger.info("virtio-net activated: features 0x\(String(features, radix: 16)) [\(VirtioNetFeature.describe(features))], receive offloads 0x\(String(offloads.rawValue, radix: 16)), \(paths.count) of \(configuration.queuePairs) queue pairs set up")
        dataPaths.withLock { $0 = paths }
        for path in paths {
            let receiving = path.pair < activePairs
            path.loop.execute { path.start(receiving: receiving) }
        }
    }

    /// Stops the data path (frames it holds are dropped, as a NIC reset does), returns the
    /// MAC to the configured one and turns the backend's receive offloads off until the
    /// next activation negotiates them again.
    public func reset() {
        stopDataPath()
        mac.set(configuration.mac)
        do { try backend.setOffloads([]) } catch { logger.error("virtio-net reset: \(error)") }
    }

    private func stopDataPath() {
        let paths = dataPaths.withLock { p -> [NetDataPath] in
            defer { p = [] }
            return p
        }
        guard !paths.isEmpty else { return }
        // The control queue's pair first: it may be waiting for another pair's thread.
        let perPair = paths.map { path in
            path.loop.sync { () -> Statistics in
                path.stop()
                return path.statistics
            }
        }
        let s = perPair.reduce(Statistics(), +)
        let pairs = paths.count > 1
            ? "; by pair: " + zip(paths, perPair).map { "\($0.pair): tx \($1.txFrames) rx \($1.rxFrames)" }.joined(separator: ", ") : ""
        logger.info("virtio-net stopped: tx \(s.txFrames) frames (\(s.txDropped) dropped, \(s.txStalls) stalls), rx \(s.rxFrames) frames (dropped: \(s.rxDroppedByFilter) filtered, \(s.rxDroppedTooLarge) too large, \(s.rxDroppedMalformed) malformed; \(s.rxPauses) pauses for buffers)\(pairs)")
    }

    private static func detach(_ backend: any PacketBackend, logger: Logger) {
        guard let steered = backend as? any QueueSteeredPacketBackend else { return }
        do { try steered.setQueueAttached(false) } catch { logger.error("virtio-net: \(error)") }
    }

    private static func errno(of error: PacketBackendError) -> Int32 {
        switch error {
        case .openFailed(_, let e, _), .ioctlFailed(_, let e), .sendFailed(let e), .receiveFailed(let e): e
        case .invalidName, .invalidVnetHeaderSize: 0
        }
    }

    /// Counters for tests and logs.
    public struct Statistics: Sendable, Equatable {
        /// Frames the backend accepted.
        public var txFrames = 0
        /// Tx frames the backend refused (a malformed GSO header, a frame too short).
        public var txDropped = 0
        /// Times the backend was full and the device waited for it to drain.
        public var txStalls = 0
        /// Frames delivered to the guest.
        public var rxFrames = 0
        /// Frames the guest's rx filter (control queue) rejected.
        public var rxDroppedByFilter = 0
        /// Frames larger than the guest's buffers or its MTU.
        public var rxDroppedTooLarge = 0
        /// Frames with offloads the guest did not negotiate, or too short to be Ethernet.
        public var rxDroppedMalformed = 0
        /// Times reception stopped because the guest had no rx buffers.
        public var rxPauses = 0

        /// Both counts added up (the device's total over its pairs).
        public static func + (a: Statistics, b: Statistics) -> Statistics {
            Statistics(txFrames: a.txFrames + b.txFrames, txDropped: a.txDropped + b.txDropped,
                       txStalls: a.txStalls + b.txStalls, rxFrames: a.rxFrames + b.rxFrames,
                       rxDroppedByFilter: a.rxDroppedByFilter + b.rxDroppedByFilter,
                       rxDroppedTooLarge: a.rxDroppedTooLarge + b.rxDroppedTooLarge,
                       rxDroppedMalformed: a.rxDroppedMalformed + b.rxDroppedMalformed, rxPauses: a.rxPauses + b.rxPauses)
        }
    }

    /// A snapshot of the data path's counters over all pairs (zero when inactive).
    public var statistics: Statistics {
        dataPaths.withLock { $0 }.reduce(Statistics()) { total, path in total + path.loop.sync { path.statistics } }
    }

    /// Each running pair's counters, by pair (pairs not set up are left out).
    public var pairStatistics: [Int: Statistics] {
        Dictionary(uniqueKeysWithValues: dataPaths.withLock { $0 }.map { path in (path.pair, path.loop.sync { path.statistics }) })
    }
}
