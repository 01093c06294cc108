import VhostUser
import Virtio
import VirtioDevices

/// A vhost-user frontend for a virtio-blk backend — what QEMU's `vhost-user-blk-pci` does for a
/// guest, without a guest: it connects to the backend's socket, negotiates, shares a memfd as
/// guest RAM, and sets up split rings whose driver side it owns (``SplitRingDriver``).
///
/// Speaks to any conforming backend: `swiftdm vhost-user --blk` and `qemu-storage-daemon
/// --export type=vhost-user-blk` are the two `swiftdm bench` compares. The message order is
/// QEMU's (`hw/virtio/vhost-user.c`, `vhost.c`), since that is what backends are tested with.
///
/// Layout of guest memory: the rings from address 0, then ``dataArea`` for request headers
/// and buffers (see ``BlockLoadGenerator``).
public final class VhostUserBlockFrontend {
    /// How the frontend sets itself up.
    public struct Options: Sendable {
        /// Request queues to set up (at most what the device offers).
        public var queues: Int
        /// Entries per ring.
        public var ringSize: UInt16
        /// Negotiate `VIRTIO_F_EVENT_IDX` when offered (Linux guests do).
        public var eventIndex: Bool
        /// Bytes of guest memory after the rings, for request headers and data buffers.
        public var dataBytes: Int
        /// How long to retry connecting while the backend starts.
        public var connectTimeoutSeconds: Double

        /// One queue of 256 entries, EVENT_IDX when offered, 8 MiB of data area, 10 s to connect.
        public init(queues: Int = 1, ringSize: UInt16 = 256, eventIndex: Bool = true, dataBytes: Int = 8 << 20,
                    connectTimeoutSeconds: Double = 10) {
            self.queues = queues
            self.ringSize = ringSize
            self.eventIndex = eventIndex
            self.dataBytes = dataBytes
            self.connectTimeoutSeconds = connectTimeoutSeconds
        }
    }

    /// Device features this frontend can use; the rest of what a backend offers is declined.
    static let wantedFeatures: UInt64 = VirtioFeature.version1 | VhostUserFeature.protocolFeatures
        | VirtioBlockFeature.sizeMax | VirtioBlockFeature.segMax | VirtioBlockFeature.blockSize
        | VirtioBlockFeature.topology | VirtioBlockFeature.multiQueue
        // Without FLUSH a device must write through (§5.2.6.2), and swiftdm then syncs every
        // write: a guest negotiates it, so the benchmark does too.
        | VirtioBlockFeature.flush
    /// Protocol features used when offered.
    static let wantedProtocolFeatures: VhostUserProtocolFeatures = [.multiQueue, .replyAck, .config]

    /// Device features the backend offered and those acked.
    public let offeredFeatures: UInt64
    /// The subset acked with `SET_FEATURES`.
    public let features: UInt64
    /// Protocol features acked.
    public let protocolFeatures: VhostUserProtocolFeatures
    /// The device's configuration.
    public let device: BlockDeviceInfo
    /// Guest RAM shared with the backend.
    public let memory: SharedGuestMemory
    /// The request queues, index = virtqueue index.
    public let rings: [SplitRingDriver]
    /// Guest-physical range free for request headers and buffers (page-aligned start).
    public let dataArea: Range<Int>

    private let channel: VhostUserChannel

    /// Connects to `socketPath` and sets everything up; the rings are enabled on return.
    public init(socketPath: String, options: Options = Options()) throws(StorageBenchError) {
        guard options.queues >= 1, options.queues <= 64 else { throw .badParameter("queues \(options.queues) is not 1…64") }
        guard options.dataBytes >= 4096 else { throw .badParameter("data area of \(options.dataBytes) bytes is under one page") }
        let fd = try UnixSocketConnector.connect(to: socketPath, timeoutSeconds: options.connectTimeoutSeconds)
        // Replies to a backend under heavy load can take a while; 30 s before declaring it stuck.
        channel = VhostUserChannel(adopting: fd, timeoutSeconds: 30)

        // Features: QEMU's order (vhost_user_backend_init, then vhost_dev_init's SET_OWNER).
        offeredFeatures = try Self.u64(channel, .getFeatures)
        guard offeredFeatures & VirtioFeature.version1 != 0 else { throw .featureMissing("VIRTIO_F_VERSION_1", offered: offeredFeatures) }
        guard offeredFeatures & VhostUserFeature.protocolFeatures != 0 else {
            throw .featureMissing("VHOST_USER_F_PROTOCOL_FEATURES (needed for GET_CONFIG)", offered: offeredFeatures)
        }
        let offeredProtocol = VhostUserProtocolFeatures(rawValue: try Self.u64(channel, .getProtocolFeatures))
        let protocolFeatures = offeredProtocol.intersection(Self.wantedProtocolFeatures)
        guard protocolFeatures.contains(.config) else {
            throw .featureMissing("VHOST_USER_PROTOCOL_F_CONFIG", offered: offeredProtocol.rawValue)
        }
        self.protocolFeatures = protocolFeatures
        try Self.send(channel, .setProtocolFeatures, Self.le64(protocolFeatures.rawValue), ack: false, protocol: [])
        if protocolFeatures.contains(.multiQueue) {
            let n = try Self.u64(channel, .getQueueNum)
            guard n >= UInt64(options.queues) else { throw .badParameter("the backend has \(n) queues, \(options.queues) asked for") }
        }
        try Self.send(channel, .setOwner, [], ack: true, protocol: protocolFeatures)

        var wanted = Self.wantedFeatures
        if options.eventIndex { wanted |= VirtioFeature.eventIndex }
        features = offeredFeatures & wanted
        let configRequest = DeviceConfigPayload(offset: 0, size: UInt32(BlockDeviceInfo.configBytes), flags: 0,
                                                data: [UInt8](repeating: 0, count: BlockDeviceInfo.configBytes))
        let reply = try Self.call(channel, .getConfig, configRequest.encoded)
        let config: DeviceConfigPayload
        do { config = try DeviceConfigPayload(reply, request: "GET_CONFIG reply") } catch { throw .channel(error) }
        device = BlockDeviceInfo(config: config.data, features: features)
        guard device.capacitySectors > 0 else { throw .badDeviceConfig("capacity 0") }
        guard device.blockSize >= 512, device.blockSize & (device.blockSize - 1) == 0 else {
            throw .badDeviceConfig("blk_size \(device.blockSize)")
        }
        guard options.queues <= device.queues else {
            throw .badParameter("the device has \(device.queues) queues, \(options.queues) asked for")
        }
        try Self.send(channel, .setFeatures, Self.le64(features), ack: true, protocol: protocolFeatures)

        // Guest memory: the rings, then the data area.
        let ringBytes = SplitRingDriver.footprint(size: options.ringSize)
        let dataStart = options.queues * ringBytes
        memory = try SharedGuestMemory(size: dataStart + options.dataBytes)
        dataArea = dataStart..<memory.size
        let table = MemoryTablePayload(regions: [
            MemoryRegionPayload(guestAddress: 0, size: UInt64(memory.size), userAddress: memory.userAddress(0), mmapOffset: 0),
        ])
        try Self.send(channel, .setMemTable, table.encoded, descriptor: memory.fd, ack: true, protocol: protocolFeatures)

        var rings: [SplitRingDriver] = []
        let eventIndex = features & VirtioFeature.eventIndex != 0
        for q in 0..<options.queues {
            let ring = try SplitRingDriver(memory: memory, at: q * ringBytes, size: options.ringSize, eventIndex: eventIndex)
            let i = UInt32(q)
            try Self.send(channel, .setVringNum, VringStatePayload(index: i, num: UInt32(ring.size)).encoded, ack: true, protocol: protocolFeatures)
            try Self.send(channel, .setVringBase, VringStatePayload(index: i, num: 0).encoded, ack: true, protocol: protocolFeatures)
            let address = VringAddressPayload(index: i, descriptorTable: memory.userAddress(ring.descriptorTable),
                                              usedRing: memory.userAddress(ring.usedRing), availRing: memory.userAddress(ring.availRing))
            try Self.send(channel, .setVringAddr, address.encoded, ack: true, protocol: protocolFeatures)
            try Self.send(channel, .setVringKick, VringFilePayload(index: i, hasFD: true).encoded, descriptor: ring.kick.fd,
                          ack: true, protocol: protocolFeatures)
            try Self.send(channel, .setVringCall, VringFilePayload(index: i, hasFD: true).encoded, descriptor: ring.call.fd,
                          ack: true, protocol: protocolFeatures)
            rings.append(ring)
        }
        for q in 0..<options.queues {
            try Self.send(channel, .setVringEnable, VringStatePayload(index: UInt32(q), num: 1).encoded, ack: true, protocol: protocolFeatures)
        }
        self.rings = rings
        // Without REPLY_ACK nothing above was confirmed: one round trip proves the backend
        // handled every earlier message (it serves them in order).
        if !protocolFeatures.contains(.replyAck) { _ = try Self.u64(channel, .getFeatures) }
    }

    /// Closes the connection (the backend stops its rings; the memory stays mapped here
    /// until this object goes away).
    public func disconnect() { channel.close() }

    // MARK: Messages

    private static func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }

    private static func send(_ channel: VhostUserChannel, _ request: VhostUserRequest, _ payload: [UInt8],
                             descriptor: Int32? = nil, ack: Bool, protocol: VhostUserProtocolFeatures) throws(StorageBenchError) {
        let wantAck = ack && `protocol`.contains(.replyAck)
        let flags = VhostUserHeader.version | (wantAck ? VhostUserHeader.needReplyFlag : 0)
        do {
            try channel.send(VhostUserHeader(request: request.rawValue, flags: flags, size: UInt32(payload.count)),
                             payload: payload, descriptor: descriptor)
        } catch { throw .channel(error) }
        guard wantAck else { return }
        let status = try decodeU64(try awaitReply(channel, request), request)
        guard status == 0 else { throw .nacked(request: request.name, status: status) }
    }

    /// Sends a request that has a reply of its own and returns the reply's payload.
    private static func call(_ channel: VhostUserChannel, _ request: VhostUserRequest, _ payload: [UInt8] = []) throws(StorageBenchError) -> [UInt8] {
        do {
            try channel.send(VhostUserHeader(request: request.rawValue, flags: VhostUserHeader.version, size: UInt32(payload.count)),
                             payload: payload)
        } catch { throw .channel(error) }
        return try awaitReply(channel, request)
    }

    private static func u64(_ channel: VhostUserChannel, _ request: VhostUserRequest) throws(StorageBenchError) -> UInt64 {
        try decodeU64(try call(channel, request), request)
    }

    private static func decodeU64(_ payload: [UInt8], _ request: VhostUserRequest) throws(StorageBenchError) -> UInt64 {
        guard payload.count == 8 else { throw .badReplySize(request: request.name, size: payload.count, expected: 8) }
        return payload.enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }

    private static func awaitReply(_ channel: VhostUserChannel, _ request: VhostUserRequest) throws(StorageBenchError) -> [UInt8] {
        let message: VhostUserMessage?
        do { message = try channel.receive() } catch { throw .channel(error) }
        guard let message else { throw .backendClosed(awaiting: request.name) }
        guard message.header.request == request.rawValue, message.header.isReply else {
            throw .unexpectedReply(awaiting: request.name, request: message.header.request, flags: message.header.flags)
        }
        return message.payload
    }
}
