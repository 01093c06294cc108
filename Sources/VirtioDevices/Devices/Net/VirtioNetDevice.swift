import DeviceModel
import Logging
import Synchronization

/// virtio-net (virtio 1.2 §5.1): one rx/tx queue pair and a control queue, backed by a
/// ``PacketBackend`` (a tap device in production).
///
/// The data path runs on the device's own I/O thread (one ``EventLoop`` per device, as
/// netback runs a thread per interface), never on a vCPU: tx on the tx kick, rx when the
/// backend has frames *and* the guest has posted buffers — when it has none, the device
/// stops reading the backend until the next rx kick (back-pressure, no busy loop).
public final class VirtioNetDevice: VirtioDevice {
    public let deviceType = VirtioDeviceType.network
    public let configuration: VirtioNetConfiguration
    public let backend: any PacketBackend
    let loop: EventLoop
    private let logger: Logger
    private let ownsLoop: Bool

    /// The MAC address: read by config accesses (vCPU threads), changed by the control queue
    /// (I/O thread) or legacy config writes.
    let mac: NetMACState
    private let dataPath = Mutex<NetDataPath?>(nil)

    /// Queue indices (§5.1.2 with one queue pair).
    static let rxQueue = 0
    static let txQueue = 1
    static let ctrlQueue = 2

    /// Creates the device. Without `loop`, it starts its own I/O thread named after the backend.
    public init(configuration: VirtioNetConfiguration, backend: any PacketBackend, loop: EventLoop? = nil,
                logger: Logger = Logger(label: "swiftdm.virtio-net")) throws(EventLoopError) {
        self.configuration = configuration
        self.backend = backend
        self.logger = logger
        if let loop {
            self.loop = loop
            self.ownsLoop = false
        } else {
            self.loop = try EventLoop(name: "virtio-net")
            self.ownsLoop = true
        }
        self.mac = NetMACState(configuration.mac.bytes)
    }

    deinit {
        reset()
        if ownsLoop { loop.shutdown() }
    }

    public var offeredFeatures: UInt64 {
        typealias F = VirtioNetFeature
        return VirtioFeature.version1 | VirtioFeature.eventIndex | VirtioFeature.indirectDescriptors
            | F.mac | F.status | F.mtu | F.csum | F.guestCsum
            | F.hostTSO4 | F.hostTSO6 | F.hostECN | F.guestTSO4 | F.guestTSO6 | F.guestECN
            | F.mergeableRxBuffers | F.ctrlVQ | F.ctrlRx | F.ctrlMACAddr
    }

    public var queueMaxSizes: [UInt16] { [configuration.queueSize, configuration.queueSize, 64] }

    /// `struct virtio_net_config`: mac[6], status le16 (LINK_UP), max_virtqueue_pairs le16, mtu le16.
    public func readConfig() -> [UInt8] {
        var bytes = mac.bytes
        bytes += [1, 0]   // VIRTIO_NET_S_LINK_UP
        bytes += [1, 0]   // one queue pair
        bytes += [UInt8(truncatingIfNeeded: configuration.mtu), UInt8(truncatingIfNeeded: configuration.mtu >> 8)]
        return bytes
    }

    /// The MAC is writable through config space only for legacy drivers (§5.1.4.2); modern
    /// drivers use `VIRTIO_NET_CTRL_MAC_ADDR_SET`.
    public func writeConfig(offset: Int, bytes: [UInt8]) {
        guard offset >= 0, offset + bytes.count <= 6 else { return }
        mac.update { m in
            for (i, b) in bytes.enumerated() { m[offset + i] = b }
        }
    }

    public func activate(_ activation: VirtioActivation) throws(VirtioDeviceError) {
        guard let rx = activation.queue(Self.rxQueue) else { throw .missingQueue(Self.rxQueue) }
        guard let tx = activation.queue(Self.txQueue) else { throw .missingQueue(Self.txQueue) }
        let ctrl = activation.has(VirtioNetFeature.ctrlVQ) ? activation.queue(Self.ctrlQueue) : nil
        let offloads = VirtioNetFeature.receiveOffloads(for: activation.features)
        do {
            try backend.setOffloads(offloads)
        } catch {
            throw .host(what: "\(error)", errno: 0)
        }
        logger.info("virtio-net activated: features 0x\(String(activation.features, radix: 16)), rx offloads 0x\(String(offloads.rawValue, radix: 16))")
        let path = NetDataPath(backend: backend, loop: loop, mac: mac, logger: logger,
                               activation: activation, rx: rx, tx: tx, ctrl: ctrl)
        reset()
        dataPath.withLock { $0 = path }
        loop.execute { path.start() }
    }

    public func reset() {
        guard let path = dataPath.withLock({ p -> NetDataPath? in
            defer { p = nil }
            return p
        }) else { return }
        loop.sync { path.stop() }
    }

    /// Counters for tests and logs, read on the I/O thread.
    public struct Statistics: Sendable, Equatable {
        public var txFrames = 0
        public var rxFrames = 0
        public var rxDroppedByFilter = 0
        public var rxDroppedTooLarge = 0
        public var rxPauses = 0
    }

    /// A snapshot of the data path's counters (zero when inactive).
    public var statistics: Statistics {
        guard let path = dataPath.withLock({ $0 }) else { return Statistics() }
        return loop.sync { path.statistics }
    }
}

/// The device's current MAC address behind a lock (shared by config space and the I/O thread).
final class NetMACState: Sendable {
    private let value: Mutex<[UInt8]>
    init(_ bytes: [UInt8]) { value = Mutex(bytes) }
    var bytes: [UInt8] { value.withLock { $0 } }
    func update(_ body: (inout [UInt8]) -> Void) { value.withLock { body(&$0) } }
}
