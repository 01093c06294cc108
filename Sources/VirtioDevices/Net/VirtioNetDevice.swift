import DeviceModel
import HostIO
import Logging
import Synchronization
import Virtio

/// virtio-net (virtio 1.2 §5.1): one rx/tx queue pair and a control queue, backed by a
/// ``PacketBackend`` (a tap device in production) whose frames carry the 12-byte header
/// (``VirtioNetHeader/size``, a `TapDevice` with its default vnet header size).
///
/// The data path runs on the device's own I/O thread (one ``EventLoop`` per device, as
/// netback runs a thread per interface), never on a vCPU: tx on the tx kick, rx when the
/// backend has frames *and* the guest has posted buffers — when it has none, the device
/// stops reading the backend until the next rx kick (back-pressure, no busy loop).
///
/// Offloads follow the backend: the device offers the checksum/TSO/UFO/USO features the
/// backend handles, and tells it (`TUNSETOFFLOAD` for a tap) which receive offloads the
/// guest negotiated — at activation, on `VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET`, and back to
/// none on reset.
public final class VirtioNetDevice: VirtioDevice {
    public let deviceType = VirtioDeviceType.network
    public let configuration: VirtioNetConfiguration
    public let backend: any PacketBackend
    public let offeredFeatures: UInt64
    let loop: EventLoop
    private let logger: Logger
    private let ownsLoop: Bool

    /// The MAC address: read by config accesses (vCPU threads), changed by the control queue
    /// (I/O thread) or legacy config writes; back to the configured one on reset.
    let mac: NetMACState
    let dataPath = Mutex<NetDataPath?>(nil)

    /// Queue indices (§5.1.2 with one queue pair).
    static let rxQueue = 0
    static let txQueue = 1
    static let ctrlQueue = 2
    /// Control queue size (QEMU uses 64; commands are small and synchronous).
    static let ctrlQueueSize: UInt16 = 64

    /// Creates the device. Without `loop`, it starts its own I/O thread.
    public init(configuration: VirtioNetConfiguration, backend: any PacketBackend, loop: EventLoop? = nil,
                logger: Logger = Logger(label: "swiftdm.virtio-net")) throws(VirtioNetError) {
        try configuration.validate()
        self.configuration = configuration
        self.backend = backend
        self.logger = logger
        typealias F = VirtioNetFeature
        offeredFeatures = VirtioFeature.version1 | VirtioFeature.eventIndex | VirtioFeature.indirectDescriptors
            | F.mac | F.status | F.mtu | F.mergeableRxBuffers
            | F.ctrlVQ | F.ctrlRx | F.ctrlRxExtra | F.ctrlMACAddr | F.ctrlGuestOffloads
            | F.offloadFeatures(for: backend.supportedOffloads)
        if let loop {
            self.loop = loop
            self.ownsLoop = false
        } else {
            do { self.loop = try EventLoop(name: "virtio-net") } catch { throw .eventLoop(error) }
            self.ownsLoop = true
        }
        self.mac = NetMACState(configuration.mac)
    }

    deinit {
        stopDataPath()
        if ownsLoop { loop.shutdown() }
    }

    public var queueMaxSizes: [UInt16] { [configuration.queueSize, configuration.queueSize, Self.ctrlQueueSize] }

    /// `struct virtio_net_config` (§5.1.4): mac[6], status le16 (LINK_UP),
    /// max_virtqueue_pairs le16 (1; only meaningful with MQ), mtu le16.
    public func readConfig() -> [UInt8] {
        var bytes = mac.address.bytes
        bytes += [1, 0]   // VIRTIO_NET_S_LINK_UP
        bytes += [1, 0]   // one queue pair
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
        let ctrl = features & VirtioNetFeature.ctrlVQ != 0 ? activation.queue(Self.ctrlQueue) : nil
        stopDataPath()
        let offloads = VirtioNetFeature.receiveOffloads(for: features)
        do {
            try backend.setOffloads(offloads)
        } catch {
            throw .host(what: "virtio-net: \(error)", errno: Self.errno(of: error))
        }
        logger.info("virtio-net activated: features 0x\(String(features, radix: 16)) [\(VirtioNetFeature.describe(features))], receive offloads 0x\(String(offloads.rawValue, radix: 16))")
        let path = NetDataPath(backend: backend, loop: loop, mac: mac, mtu: configuration.mtu, logger: logger,
                               features: features, memory: activation.memory, interrupts: activation.interrupts,
                               rx: rx, tx: tx, ctrl: ctrl)
        dataPath.withLock { $0 = path }
        loop.execute { path.start() }
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
        guard let path = dataPath.withLock({ p -> NetDataPath? in
            defer { p = nil }
            return p
        }) else { return }
        let s = loop.sync { () -> Statistics in
            path.stop()
            return path.statistics
        }
        logger.info("virtio-net stopped: tx \(s.txFrames) frames (\(s.txDropped) dropped, \(s.txStalls) stalls), rx \(s.rxFrames) frames (dropped: \(s.rxDroppedByFilter) filtered, \(s.rxDroppedTooLarge) too large, \(s.rxDroppedMalformed) malformed; \(s.rxPauses) pauses for buffers)")
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
    }

    /// A snapshot of the data path's counters (zero when inactive).
    public var statistics: Statistics {
        guard let path = dataPath.withLock({ $0 }) else { return Statistics() }
        return loop.sync { path.statistics }
    }
}
