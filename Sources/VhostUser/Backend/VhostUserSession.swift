import DeviceModel
import Logging
import Virtio
#if canImport(Glibc)
import Glibc
#endif

/// One frontend connection: the vhost-user request handlers and the ring state machine
/// that decides when the device runs (QEMU `docs/interop/vhost-user.rst`).
///
/// Confined to the backend's connection thread. The device is activated with every ring
/// that is started and enabled once the frontend pauses between messages (so a burst of
/// ring set-up messages leads to one activation), and stopped — `VirtioDevice.reset()`,
/// which waits for in-flight requests — before anything it uses changes: a ring's
/// configuration, the memory table, the features. Ring positions survive the stop.
final class VhostUserSession {
    /// Largest split-ring size (virtio 1.2 §2.7).
    static let maxRingSize: UInt32 = 32768

    let device: any VirtioDevice
    let channel: VhostUserChannel
    let interrupts: VhostUserInterrupts
    private let logger: Logger

    /// Device features plus `VHOST_USER_F_PROTOCOL_FEATURES`.
    let offeredFeatures: UInt64
    /// ``VhostUserProtocolFeatures/supported``, without `CONFIG` for a device that has no
    /// configuration space (QEMU warns about a backend offering it for such a device).
    let offeredProtocolFeatures: VhostUserProtocolFeatures
    private(set) var ackedFeatures: UInt64?
    /// Set once a frontend acked unoffered transport features (logged once per session).
    private var warnedAboutExtraFeatures = false
    private(set) var protocolFeatures: VhostUserProtocolFeatures = []
    private var protocolFeaturesNegotiated = false
    private(set) var memory: FrontendMemoryTable?
    /// The inflight-tracking buffer the frontend handed over (`SET_INFLIGHT_FD`), if any.
    private(set) var inflight: InflightBuffer?
    private(set) var rings: [Vring]
    /// The queues the device is running on, by ring index; `nil` while stopped.
    private var activeQueues: [Int: SplitVirtqueue]?
    /// Set when the device reported an unrecoverable error; cleared when the frontend
    /// resets the device or stops every ring.
    private var deviceFailed = false

    /// `tracksInflight` offers `INFLIGHT_SHMFD` (see ``VhostUserBackend``).
    init(device: any VirtioDevice, channel: VhostUserChannel, interrupts: VhostUserInterrupts, logger: Logger,
         tracksInflight: Bool = false) {
        self.device = device
        self.channel = channel
        self.interrupts = interrupts
        self.logger = logger
        self.offeredFeatures = device.offeredFeatures | VhostUserFeature.protocolFeatures
        var offeredProtocol = VhostUserProtocolFeatures.supported
        if device.readConfig().isEmpty { offeredProtocol.remove(.config) }
        if tracksInflight { offeredProtocol.insert(.inflightSharedMemory) }
        self.offeredProtocolFeatures = offeredProtocol
        self.rings = Array(repeating: Vring(), count: device.queueMaxSizes.count)
    }

    var isDeviceActive: Bool { activeQueues != nil }

    // MARK: Driving

    /// Handles every message that is waiting, then brings the device in line with the
    /// rings. Returns `false` when the frontend closed the connection; throws on a
    /// protocol violation (the caller ends the connection either way).
    func processPendingMessages() throws(VhostUserError) -> Bool {
        repeat {
            guard let message = try channel.receive() else { return false }
            try handle(message)
        } while channel.hasPendingInput
        try reconcile()
        if isMemoryPoisoned { throw .guestMemoryTruncated }
        return true
    }

    /// True once an access to the frontend's memory faulted because it truncated the file.
    var isMemoryPoisoned: Bool { memory?.guestMemory.isPoisoned ?? false }

    /// Stops the device and drops everything the frontend handed over.
    func close() {
        stopDevice()
        interrupts.clearAll()
        rings = Array(repeating: Vring(), count: rings.count)
        memory = nil
        inflight = nil
        channel.close()
    }

    /// The device reported an unrecoverable error (relayed from its thread).
    func deviceFailed(_ error: VirtioDeviceError) {
        guard isDeviceActive else { return }
        stopDevice()
        deviceFailed = true
        logger.error("vhost-user: device stopped until the frontend resets it or restarts its rings")
    }

    // MARK: Dispatch

    func handle(_ message: VhostUserMessage) throws(VhostUserError) {
        let header = message.header
        guard let request = VhostUserRequest(rawValue: header.request) else {
            if header.needsReply { throw .unknownRequest(header.request) }
            logger.warning("vhost-user: ignoring unknown request \(header.request) (\(header.size)-byte payload)")
            return
        }
        logger.trace("vhost-user: \(request.name) size=\(header.size) fds=\(message.descriptors.count)")
        let reply = try dispatch(request, message)
        if let reply {
            defer { if let fd = reply.descriptor { _ = Glibc.close(fd) } }
            try send(request, reply.payload, descriptor: reply.descriptor)
        } else if header.needsReply && protocolFeatures.contains(.replyAck) && !request.hasOwnReply {
            // REPLY_ACK: a u64 status, 0 for success (failures end the connection instead).
            var w = PayloadWriter()
            w.u64(0)
            try send(request, w.bytes)
        }
    }

    private func send(_ request: VhostUserRequest, _ payload: [UInt8], descriptor: Int32? = nil) throws(VhostUserError) {
        let header = VhostUserHeader(request: request.rawValue, flags: VhostUserHeader.version | VhostUserHeader.replyFlag,
                                     size: UInt32(payload.count))
        try channel.send(header, payload: payload, descriptor: descriptor)
    }

    /// A reply payload, and a descriptor to pass with it (owned by the reply: closed once sent).
    private struct Reply {
        var payload: [UInt8]
        var descriptor: Int32?
    }

    /// Runs one request; returns the reply for requests that have one.
    private func dispatch(_ request: VhostUserRequest, _ m: VhostUserMessage) throws(VhostUserError) -> Reply? {
        switch request {
        case .getFeatures:
            try expect(m, payload: 0)
            return u64(offeredFeatures)

        case .setFeatures:
            try expect(m, payload: 8)
            try setFeatures(PayloadReader(m.payload).u64AtStart())
            return nil

        case .getProtocolFeatures:
            try expect(m, payload: 0)
            return u64(offeredProtocolFeatures.rawValue)

        case .setProtocolFeatures:
            try expect(m, payload: 8)
            let acked = PayloadReader(m.payload).u64AtStart()
            let offered = offeredProtocolFeatures.rawValue
            guard acked & ~offered == 0 else { throw .protocolFeaturesNotOffered(acked: acked, offered: offered) }
            protocolFeatures = VhostUserProtocolFeatures(rawValue: acked)
            protocolFeaturesNegotiated = true
            logger.debug("vhost-user: protocol features \(protocolFeatures)")
            return nil

        case .setOwner:
            // The connection is the session; there is no other owner to displace.
            try expect(m, payload: 0)
            return nil

        case .resetOwner:
            try expect(m, payload: 0)
            resetDeviceState()
            return nil

        case .resetDevice:
            try expect(m, payload: 0)
            try require(.resetDevice, for: request)
            resetDeviceState()
            return nil

        case .setMemTable:
            guard m.payload.count <= MemoryTablePayload.maxSize else {
                throw .payloadTooLarge(request: request.name, size: UInt32(m.payload.count), maximum: MemoryTablePayload.maxSize)
            }
            let table = try MemoryTablePayload(m.payload)
            let newMemory = try FrontendMemoryTable(table: table, descriptors: m.descriptors)
            // The device must let go of the old mapping before it is replaced.
            stopDevice()
            memory = newMemory
            logger.debug("vhost-user: memory table \(newMemory.regions.map { "gpa 0x\(String($0.guestAddress, radix: 16))+0x\(String($0.size, radix: 16))" })")
            return nil

        case .getQueueNum:
            try expect(m, payload: 0)
            try require(.multiQueue, for: request)
            return u64(UInt64(rings.count))

        case .setVringNum:
            try expect(m, payload: VringStatePayload.size)
            let s = VringStatePayload(m.payload)
            let i = try ringIndex(s.index, request)
            guard s.num > 0, s.num <= Self.maxRingSize, s.num & (s.num - 1) == 0 else {
                throw .invalidRingSize(index: i, size: s.num)
            }
            stopDevice(ifUsing: i)
            rings[i].size = UInt16(s.num)
            return nil

        case .setVringAddr:
            try expect(m, payload: VringAddressPayload.size)
            let a = VringAddressPayload(m.payload)
            let i = try ringIndex(a.index, request)
            guard a.flags & VringAddressPayload.logFlag == 0 else {
                throw .unsupported(request: request.name, reason: "ring \(i) asks for used-ring logging, but VHOST_F_LOG_ALL was not offered")
            }
            guard let memory else { throw .noMemoryTable(request: request.name) }
            // Check now so a bad address is reported against the message that carried it.
            _ = try translate(a, size: rings[i].size ?? 1, ring: i, memory: memory)
            stopDevice(ifUsing: i)
            rings[i].address = a
            return nil

        case .setVringBase:
            try expect(m, payload: VringStatePayload.size)
            let s = VringStatePayload(m.payload)
            let i = try ringIndex(s.index, request)
            guard s.num <= UInt32(UInt16.max) else { throw .invalidRingBase(index: i, base: s.num) }
            stopDevice(ifUsing: i)
            rings[i].base = UInt16(s.num)
            rings[i].usedBase = nil
            return nil

        case .getVringBase:
            try expect(m, payload: VringStatePayload.size)
            let s = VringStatePayload(m.payload)
            let i = try ringIndex(s.index, request)
            // Stop the ring: the device quiesces, and the position it reached is the answer.
            stopDevice(ifUsing: i)
            rings[i].started = false
            rings[i].kick = nil
            if !rings.contains(where: \.started) { deviceFailed = false }
            return Reply(payload: VringStatePayload(index: s.index, num: UInt32(rings[i].base)).encoded)

        case .setVringKick:
            try expect(m, payload: VringFilePayload.size, descriptorsFor: VringFilePayload(m.payload))
            let f = VringFilePayload(m.payload)
            let i = try ringIndex(f.index, request)
            guard f.hasFD else {
                throw .unsupported(request: request.name, reason: "ring \(i) without a kick descriptor (polling mode)")
            }
            let kick = try m.descriptors[0].takeEventNotifier(for: request.name)
            stopDevice(ifUsing: i)
            rings[i].kick = kick
            rings[i].started = true
            return nil

        case .setVringCall:
            try expect(m, payload: VringFilePayload.size, descriptorsFor: VringFilePayload(m.payload))
            let f = VringFilePayload(m.payload)
            let i = try ringIndex(f.index, request)
            interrupts.setCall(f.hasFD ? try m.descriptors[0].takeEventNotifier(for: request.name) : nil, ring: i)
            return nil

        case .setVringErr:
            try expect(m, payload: VringFilePayload.size, descriptorsFor: VringFilePayload(m.payload))
            let f = VringFilePayload(m.payload)
            let i = try ringIndex(f.index, request)
            interrupts.setErr(f.hasFD ? try m.descriptors[0].takeEventNotifier(for: request.name) : nil, ring: i)
            return nil

        case .setVringEnable:
            try expect(m, payload: VringStatePayload.size)
            guard protocolFeaturesNegotiated || (ackedFeatures ?? 0) & VhostUserFeature.protocolFeatures != 0 else {
                throw .notNegotiated(request: request.name, feature: "VHOST_USER_F_PROTOCOL_FEATURES")
            }
            let s = VringStatePayload(m.payload)
            let i = try ringIndex(s.index, request)
            guard s.num <= 1 else { throw .badPayloadSize(request: request.name, size: Int(s.num), expected: "enable flag 0 or 1") }
            if rings[i].enabled != (s.num == 1) { stopDevice(ifUsing: i) }
            rings[i].enabled = s.num == 1
            return nil

        case .getConfig:
            try require(.config, for: request)
            let c = try configPayload(m, request)
            let config = device.readConfig()
            let start = Int(c.offset)
            let bytes = (start..<start + Int(c.size)).map { $0 < config.count ? config[$0] : 0 }
            return Reply(payload: DeviceConfigPayload(offset: c.offset, size: c.size, flags: c.flags, data: bytes).encoded)

        case .setConfig:
            try require(.config, for: request)
            let c = try configPayload(m, request)
            device.writeConfig(offset: Int(c.offset), bytes: c.data)
            return nil

        case .setBackendReqFD:
            try expect(m, payload: 0, descriptors: 1)
            try require(.backendRequest, for: request)
            interrupts.setBackendChannel(m.descriptors[0].take())
            return nil

        case .setLogBase, .setLogFD:
            throw .unsupported(request: request.name, reason: "dirty-page logging (VHOST_F_LOG_ALL, LOG_SHMFD) was not offered")

        case .sendRARP: throw .notNegotiated(request: request.name, feature: "RARP")
        case .netSetMTU: throw .notNegotiated(request: request.name, feature: "NET_MTU")
        case .iotlbMsg: throw .notNegotiated(request: request.name, feature: "VIRTIO_F_IOMMU_PLATFORM")
        case .setVringEndian: throw .notNegotiated(request: request.name, feature: "CROSS_ENDIAN")
        case .createCryptoSession, .closeCryptoSession: throw .notNegotiated(request: request.name, feature: "CRYPTO_SESSION")
        case .postcopyAdvise, .postcopyListen, .postcopyEnd: throw .notNegotiated(request: request.name, feature: "PAGEFAULT")
        case .getInflightFD:
            try require(.inflightSharedMemory, for: request)
            try expect(m, payload: InflightPayload.size)
            let (fd, reply) = try InflightBuffer.create(for: InflightPayload(m.payload), deviceQueues: rings.count)
            logger.debug("vhost-user: inflight buffer of \(reply.mmapSize) bytes for \(reply.queueCount) queues of \(reply.queueSize)")
            return Reply(payload: reply.encoded, descriptor: fd)

        case .setInflightFD:
            try require(.inflightSharedMemory, for: request)
            try expect(m, payload: InflightPayload.size, descriptors: 1)
            let buffer = try InflightBuffer(InflightPayload(m.payload), descriptor: m.descriptors[0], deviceQueues: rings.count)
            // The running queues record into the old buffer: stop them first.
            stopDevice()
            inflight = buffer
            return nil

        case .gpuSetSocket: throw .unsupported(request: request.name, reason: "not a vhost-user-gpu backend")
        case .vringKick: throw .notNegotiated(request: request.name, feature: "INBAND_NOTIFICATIONS")
        case .getMaxMemSlots, .addMemReg, .remMemReg: throw .notNegotiated(request: request.name, feature: "CONFIGURE_MEM_SLOTS")
        case .setStatus, .getStatus: throw .notNegotiated(request: request.name, feature: "STATUS")
        }
    }

    // MARK: Request helpers

    private func u64(_ v: UInt64) -> Reply {
        var w = PayloadWriter()
        w.u64(v)
        return Reply(payload: w.bytes)
    }

    private func expect(_ m: VhostUserMessage, payload size: Int, descriptors: Int = 0) throws(VhostUserError) {
        guard m.payload.count == size else {
            throw .badPayloadSize(request: m.requestName, size: m.payload.count, expected: "\(size)")
        }
        guard m.descriptors.count == descriptors else {
            throw .unexpectedFileDescriptors(request: m.requestName, received: m.descriptors.count, expected: descriptors)
        }
    }

    private func expect(_ m: VhostUserMessage, payload size: Int, descriptorsFor f: VringFilePayload) throws(VhostUserError) {
        try expect(m, payload: size, descriptors: m.payload.count == size && f.hasFD ? 1 : 0)
    }

    private func require(_ feature: VhostUserProtocolFeatures, for request: VhostUserRequest) throws(VhostUserError) {
        guard protocolFeatures.contains(feature) else {
            throw .notNegotiated(request: request.name, feature: "VHOST_USER_PROTOCOL_F_\(feature)")
        }
    }

    private func ringIndex(_ raw: UInt32, _ request: VhostUserRequest) throws(VhostUserError) -> Int {
        guard Int(raw) < rings.count else { throw .invalidRingIndex(request: request.name, index: raw, count: rings.count) }
        return Int(raw)
    }

    private func configPayload(_ m: VhostUserMessage, _ request: VhostUserRequest) throws(VhostUserError) -> DeviceConfigPayload {
        guard m.descriptors.isEmpty else {
            throw .unexpectedFileDescriptors(request: request.name, received: m.descriptors.count, expected: 0)
        }
        guard m.payload.count <= DeviceConfigPayload.maxSize else {
            throw .payloadTooLarge(request: request.name, size: UInt32(m.payload.count), maximum: DeviceConfigPayload.maxSize)
        }
        return try DeviceConfigPayload(m.payload, request: request.name)
    }

    /// Transport feature bits (virtio 1.2 §6: 28–41, queue and negotiation mechanisms) a
    /// frontend may ack without the backend offering them: QEMU 7.2's virtio-pci negotiates
    /// VIRTIO_F_RING_RESET (bit 40) with the guest itself and its vhost-user-input passes the
    /// bit on in SET_FEATURES. Such bits are masked off (the backend implements none it did not
    /// offer); any other unoffered bit is refused.
    static let toleratedTransportFeatures: UInt64 = ((1 << 42) - 1) & ~((1 << 28) - 1)

    private func setFeatures(_ requested: UInt64) throws(VhostUserError) {
        let extra = requested & ~offeredFeatures
        guard extra & ~Self.toleratedTransportFeatures == 0 else { throw .featuresNotOffered(acked: requested, offered: offeredFeatures) }
        if extra != 0, !warnedAboutExtraFeatures {
            warnedAboutExtraFeatures = true
            logger.warning("vhost-user: the frontend acked transport features 0x\(String(extra, radix: 16)) that were not offered; ignoring them")
        }
        let acked = requested & offeredFeatures
        if ackedFeatures != acked { stopDevice() }
        ackedFeatures = acked
        if acked & VhostUserFeature.protocolFeatures == 0 {
            // Without the protocol-features bit there is no SET_VRING_ENABLE: rings are enabled.
            for i in rings.indices { rings[i].enabled = true }
        }
        logger.debug("vhost-user: features 0x\(String(acked, radix: 16))")
    }

    /// `RESET_DEVICE` / `RESET_OWNER`: the device and every ring back to their initial
    /// state; the memory table and protocol features (connection properties) stay.
    private func resetDeviceState() {
        stopDevice()
        rings = Array(repeating: Vring(), count: rings.count)
        for i in rings.indices {
            interrupts.setCall(nil, ring: i)
            interrupts.setErr(nil, ring: i)
        }
        ackedFeatures = nil
        deviceFailed = false
    }

    // MARK: Device state

    private func stopDevice(ifUsing ring: Int) {
        if activeQueues?[ring] != nil { stopDevice() }
    }

    /// Quiesces the device and records where each ring stopped.
    private func stopDevice() {
        guard let active = activeQueues else { return }
        device.reset()
        for (i, q) in active {
            rings[i].base = q.nextAvail
            rings[i].usedBase = q.nextUsed
        }
        activeQueues = nil
        logger.debug("vhost-user: device stopped at \(active.keys.sorted().map { "ring \($0) avail \(rings[$0].base)" })")
    }

    /// Runs the device on exactly the started and enabled rings.
    func reconcile() throws(VhostUserError) {
        guard !deviceFailed, let features = ackedFeatures, let memory else { return }
        let ready = rings.indices.filter { rings[$0].isReady }
        if let active = activeQueues, Set(active.keys) == Set(ready) { return }
        stopDevice()
        guard !ready.isEmpty else { return }

        let virtioFeatures = features & ~VhostUserFeature.protocolFeatures
        var queues: [Int: SplitVirtqueue] = [:]
        var bindings: [VirtioQueueBinding] = []
        for i in ready {
            let ring = rings[i]
            guard let size = ring.size else { throw .ringNotConfigured(index: i, missing: "SET_VRING_NUM") }
            guard let address = ring.address else { throw .ringNotConfigured(index: i, missing: "SET_VRING_ADDR") }
            guard let kick = ring.kick else { throw .ringNotConfigured(index: i, missing: "SET_VRING_KICK") }
            let layout: VirtqueueLayout
            do {
                layout = try translate(address, size: size, ring: i, memory: memory)
            } catch {
                // Checked when SET_VRING_ADDR arrived, so the memory table changed since: the
                // frontend re-sends the ring's addresses next (or never starts the ring).
                logger.debug("vhost-user: not starting: \(error) under the current memory table")
                return
            }
            let usedIndex: UInt16
            if let u = ring.usedBase {
                usedIndex = u
            } else {
                // Resume where the used ring says the previous backend (or run) got to.
                do { usedIndex = try memory.guestMemory.read(UInt16.self, at: layout.usedRing + 2) } catch {
                    throw .invalidRing(index: i, .memory(error))
                }
            }
            // With an inflight buffer, the chains an earlier run took and never returned are
            // resubmitted first, and the avail position follows from the used index: every
            // chain popped is either in the used ring or still marked in flight. (A frontend
            // whose backend died restarts the ring at the used index, as QEMU does.)
            var nextAvail = ring.base
            var resubmit: [UInt16] = []
            let log = inflight?.log(ring: i, ringSize: size)
            if let inflight, log == nil, i < inflight.queueCount {
                logger.warning("vhost-user: ring \(i) has \(size) entries, more than the inflight buffer's \(inflight.queueSize): served without inflight tracking")
            }
            if let log {
                resubmit = log.recover(usedIndex: usedIndex, ringSize: size)
                nextAvail = usedIndex &+ UInt16(resubmit.count)
                if !resubmit.isEmpty {
                    logger.info("vhost-user: ring \(i): resubmitting \(resubmit.count) requests left in flight")
                }
            }
            let queue: SplitVirtqueue
            do {
                queue = try SplitVirtqueue(memory: memory.guestMemory, layout: layout, maxSize: UInt16(Self.maxRingSize),
                                           eventIndex: virtioFeatures & VirtioFeature.eventIndex != 0,
                                           indirectDescriptors: virtioFeatures & VirtioFeature.indirectDescriptors != 0,
                                           nextAvail: nextAvail, nextUsed: usedIndex)
            } catch { throw .invalidRing(index: i, error) }
            if let log { queue.trackInflight(log, resubmitting: resubmit) }
            queues[i] = queue
            bindings.append(VirtioQueueBinding(index: i, queue: queue, kick: kick))
        }
        let activation = VirtioActivation(features: virtioFeatures, memory: memory.guestMemory, queues: bindings,
                                          interrupts: interrupts)
        do {
            try device.activate(activation)
            activeQueues = queues
            logger.debug("vhost-user: device running on rings \(ready)")
        } catch .missingQueue(let q) {
            // The frontend has not set up every ring the device needs yet.
            logger.debug("vhost-user: device waits for ring \(q)")
        } catch {
            logger.error("vhost-user: device activation failed: \(error)")
            interrupts.signalErrors()
            deviceFailed = true
        }
    }

    /// Translates a ring's frontend addresses to guest-physical ones; each part must lie
    /// inside one memory region.
    private func translate(_ a: VringAddressPayload, size: UInt16, ring i: Int,
                           memory: FrontendMemoryTable) throws(VhostUserError) -> VirtqueueLayout {
        let n = Int(size)
        func map(_ ua: UInt64, _ length: Int, _ part: String) throws(VhostUserError) -> UInt64 {
            guard let gpa = memory.guestAddress(ofFrontendAddress: ua, length: length) else {
                throw .ringAddressUnmapped(index: i, part: part, userAddress: ua, length: length)
            }
            return gpa
        }
        return VirtqueueLayout(size: size,
                               descriptorTable: try map(a.descriptorTable, 16 * n, "descriptor table"),
                               availRing: try map(a.availRing, 6 + 2 * n, "avail ring"),
                               usedRing: try map(a.usedRing, 6 + 8 * n, "used ring"))
    }
}

extension PayloadReader {
    /// The first little-endian u64 of a payload.
    func u64AtStart() -> UInt64 {
        var copy = self
        return copy.u64()
    }
}
