import DeviceModel
import DeviceModelTesting
import Glibc
import HostIO
import Logging
import Virtio
@testable import VirtioDevices
import VirtioTesting

/// The transports the net tests drive the device through, as a guest's driver would.
typealias NetTransport = DeviceOnTransport<VirtioNetDevice>.Kind

extension DeviceOnTransport.Kind where Device == VirtioNetDevice {
    /// virtio-mmio version 2 (wired interrupt) and modern virtio-pci with MSI-X.
    static let modern: [Self] = [.mmio, .pciMSIX]
    /// Legacy drivers (no VERSION_1): virtio-mmio version 1, and the legacy I/O BAR of a
    /// transitional virtio-pci device with INTx.
    static let legacy: [Self] = [.mmioLegacy, .pciLegacy]
}

/// A ``VirtioNetDevice`` over a ``SocketPairPacketBackend`` on a ``DeviceOnTransport`` (a
/// simulated machine with one transport and a ``VirtioTestDriver`` using its registers),
/// set up and used as Linux's virtio_net does.
final class NetTestbed {
    let transport: NetTransport
    let backend: SocketPairPacketBackend
    let device: VirtioNetDevice
    let driver: VirtioTestDriver
    private let attachment: DeviceOnTransport<VirtioNetDevice>

    private(set) var rx: VirtioTestQueue!
    private(set) var tx: VirtioTestQueue!
    private(set) var ctrl: VirtioTestQueue?
    /// Rx completions collected and not yet returned by ``receivePackets(_:timeout:)``.
    private var rxBacklog: [VirtioTestCompletion] = []

    /// The device runs over `backend`, or over `tap` when given (then `backend` is idle).
    init(_ transport: NetTransport, configuration: VirtioNetConfiguration = VirtioNetConfiguration(queueSize: 16),
         backend: SocketPairPacketBackend = SocketPairPacketBackend(), tap: TapDevice? = nil) throws {
        self.transport = transport
        self.backend = backend
        var logger = Logger(label: "test.virtio-net")
        logger.logLevel = .warning
        device = try VirtioNetDevice(configuration: configuration, backend: tap ?? backend, logger: logger)
        attachment = try DeviceOnTransport(transport, device: device)
        driver = attachment.driver
    }

    /// Why the transport set DEVICE_NEEDS_RESET (host side).
    var needsResetReason: VirtioTransportError? { attachment.needsResetReason }

    // MARK: Driver side, as virtio_net.c

    /// The features Linux's virtio_net (6.x) asks for, plus the ring features.
    static let linuxFeatures: UInt64 = {
        typealias F = VirtioNetFeature
        return VirtioTestSpec.Feature.version1 | VirtioTestSpec.Feature.eventIndex | VirtioTestSpec.Feature.indirectDescriptors
            | F.csum | F.guestCsum | F.ctrlGuestOffloads | F.mtu | F.mac
            | F.guestTSO4 | F.guestTSO6 | F.guestECN | F.guestUFO | F.hostTSO4 | F.hostTSO6 | F.hostECN | F.hostUFO
            | F.mergeableRxBuffers | F.status | F.ctrlVQ | F.ctrlRx | F.ctrlVLAN | F.guestAnnounce | F.mq | F.ctrlMACAddr
            | F.guestUSO4 | F.guestUSO6 | F.hostUSO
    }()

    /// Probes as `virtnet_probe` does: negotiates `wanted` (VERSION_1 dropped on a legacy
    /// interface), sets up rx, tx and — with CTRL_VQ — the control queue, then DRIVER_OK.
    @discardableResult
    func start(features wanted: UInt64 = NetTestbed.linuxFeatures) throws -> UInt64 {
        let request = transport.isLegacyDriver ? wanted & ~VirtioTestSpec.Feature.version1 : wanted
        let features = try driver.initialize(features: request)
        rxBacklog = []
        rx = try driver.setupQueue(VirtioNetDevice.rxQueue)
        tx = try driver.setupQueue(VirtioNetDevice.txQueue)
        ctrl = features & VirtioNetFeature.ctrlVQ != 0 ? try driver.setupQueue(VirtioNetDevice.ctrlQueue) : nil
        driver.driverOK()
        return features
    }

    /// The header size the negotiated features give (12, or 10 for legacy without MRG_RXBUF).
    var headerLength: Int { VirtioNetHeader.size(for: driver.features) }

    /// Posts `count` receive buffers of `size` bytes (one descriptor each, as small and
    /// mergeable buffers are) and kicks if the device asks for it.
    func postReceiveBuffers(_ count: Int, size: Int) throws {
        for _ in 0..<count { try rx.submit(writable: [size]) }
        try driver.kick(rx)
    }

    /// Sends `header + frame` as one request made of `parts` buffers of about equal size
    /// (Linux pushes the header in front of the data, or gives it its own sg entry).
    func transmit(_ packet: [UInt8], parts: Int = 1, indirect: Bool = false) throws {
        let step = max(1, (packet.count + parts - 1) / parts)
        let pieces = stride(from: 0, to: packet.count, by: step).map { Array(packet[$0..<min($0 + step, packet.count)]) }
        try tx.submit(readable: pieces, indirect: indirect)
        try driver.kick(tx)
    }

    /// Sends one control command (`virtnet_send_command`) and returns the ack byte.
    func control(_ commandClass: UInt8, _ command: UInt8, _ data: [[UInt8]] = []) throws -> UInt8 {
        guard let ctrl else { throw TestbedError("control queue not negotiated") }
        try ctrl.submit(readable: [[commandClass, command]] + data, writable: [1])
        try driver.kick(ctrl)
        let done = try driver.waitForUsed(ctrl)
        guard done.count == 1, done[0].length == 1 else { throw TestbedError("control completion \(done)") }
        return done[0].written[0]
    }

    /// Waits until `count` received packets completed and returns them as the guest sees
    /// them (header included); with MRG_RXBUF, the buffers of one packet are joined as
    /// `num_buffers` says. Completions beyond those packets wait for the next call.
    func receivePackets(_ count: Int, timeout: Duration = .seconds(5)) throws -> [[UInt8]] {
        var packets: [[UInt8]] = []
        let deadline = ContinuousClock.now + timeout
        while packets.count < count {
            if let first = rxBacklog.first {
                let buffers = driver.features & VirtioNetFeature.mergeableRxBuffers != 0
                    ? Int(first.written[10]) | Int(first.written[11]) << 8 : 1
                if rxBacklog.count >= buffers {
                    packets.append(rxBacklog.prefix(buffers).flatMap(\.written))
                    rxBacklog.removeFirst(buffers)
                    continue
                }
            }
            guard ContinuousClock.now < deadline else { throw TestbedError("\(count) packets, got \(packets.count)") }
            rxBacklog += try driver.waitForUsed(rx, count: 1, timeout: deadline - ContinuousClock.now)
        }
        return packets
    }

    /// Waits (bounded) until `condition` holds.
    func wait(until condition: () -> Bool) -> Bool {
        let deadline = ContinuousClock.now + .seconds(5)
        while !condition() {
            guard ContinuousClock.now < deadline else { return false }
            var pause = timespec(tv_sec: 0, tv_nsec: 1_000_000)
            nanosleep(&pause, nil)
        }
        return true
    }
}

struct TestbedError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: Frames

/// An Ethernet frame: destination, a fixed source, `etherType`, `payload` bytes of `tag`.
func ethernetFrame(to destination: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], etherType: UInt16 = 0x88B5,
                   payload: Int, tag: UInt8 = 0xAB) -> [UInt8] {
    destination + [0x02, 0x00, 0x00, 0x00, 0x00, 0x09] + [UInt8(etherType >> 8), UInt8(etherType & 0xFF)]
        + [UInt8](repeating: tag, count: payload)
}

/// A 12-byte `virtio_net_hdr_v1`.
func netHeader(flags: UInt8 = 0, gsoType: UInt8 = 0, headerLength: UInt16 = 0, gsoSize: UInt16 = 0,
               csumStart: UInt16 = 0, csumOffset: UInt16 = 0, numBuffers: UInt16 = 0) -> [UInt8] {
    func le(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
    return [flags, gsoType] + le(headerLength) + le(gsoSize) + le(csumStart) + le(csumOffset) + le(numBuffers)
}
