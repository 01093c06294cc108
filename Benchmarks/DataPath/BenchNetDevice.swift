import DeviceModel
import DeviceModelTesting
import Glibc
import HostIO
import Logging
import Virtio
import VirtioDevices
import VirtioTesting

/// A virtio-net device over a packet backend on a SOCK_SEQPACKET socketpair, activated with
/// Linux's receive features (VERSION_1, EVENT_IDX, MRG_RXBUF, GUEST_CSUM, GUEST_TSO4) on an
/// rx ring of 256 one-page buffers in simulated guest RAM. ``receive(_:)`` is the host
/// network and the guest's driver around the device: it sends one 64 KiB TCPv4 GSO frame
/// into the backend, waits until the device's I/O thread has spread it over mergeable
/// buffers, and offers those buffers again, as Linux's refill does.
final class BenchNetDevice {
    static let size: UInt16 = 256
    static let rxDescriptors: UInt64 = 0x0, rxAvail: UInt64 = 0x1000, rxUsed: UInt64 = 0x2000
    static let txDescriptors: UInt64 = 0x3000, txAvail: UInt64 = 0x4000, txUsed: UInt64 = 0x5000
    static let buffers: UInt64 = 0x10_0000
    static let bufferSize: UInt32 = 4096
    /// A frame's bytes after the 12-byte vnet header, which with it make 64 KiB (a host's TSO
    /// sends frames of about that size to a tap).
    static let frameLength = 65_536 - 12

    let machine: SimulatedMachine
    let device: VirtioNetDevice
    private let backend = SocketPairPacketBackend()
    private let rxKick: EventNotifier
    private let txKick: EventNotifier
    private let frame: [UInt8]
    private var availIndex: UInt16
    private var usedIndex: UInt16 = 0

    init() throws {
        machine = try SimulatedMachine()
        let memory = machine.memory
        for i in 0..<UInt64(Self.size) {
            let at = Self.rxDescriptors + 16 * i
            try memory.write(Self.buffers + i * UInt64(Self.bufferSize), at: at)
            try memory.write(Self.bufferSize, at: at + 8)
            try memory.write(UInt16(2), at: at + 12)   // VIRTQ_DESC_F_WRITE
            try memory.write(UInt16(0), at: at + 14)
            try memory.write(UInt16(i), at: Self.rxAvail + 4 + 2 * i)
        }
        availIndex = Self.size
        try memory.write(availIndex, at: Self.rxAvail + 2)

        // A TCPv4 GSO frame with a partial checksum, to the broadcast address.
        var frame: [UInt8] = [1, 1]   // VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4
        for v: UInt16 in [54, 1448, 34, 16, 0] { frame += [UInt8(v & 0xFF), UInt8(v >> 8)] }
        frame += [UInt8](repeating: 0xFF, count: 6) + [0x02, 0, 0, 0, 0, 9, 0x08, 0x00]
        frame += [UInt8](repeating: 0xAB, count: Self.frameLength - 14)
        self.frame = frame

        var logger = Logger(label: "bench.virtio-net")
        logger.logLevel = .warning
        device = try VirtioNetDevice(configuration: VirtioNetConfiguration(queueSize: Self.size), backend: backend, logger: logger)
        let rx = try SplitVirtqueue(memory: memory,
                                    layout: VirtqueueLayout(size: Self.size, descriptorTable: Self.rxDescriptors,
                                                            availRing: Self.rxAvail, usedRing: Self.rxUsed),
                                    eventIndex: true, indirectDescriptors: true)
        let tx = try SplitVirtqueue(memory: memory,
                                    layout: VirtqueueLayout(size: Self.size, descriptorTable: Self.txDescriptors,
                                                            availRing: Self.txAvail, usedRing: Self.txUsed),
                                    eventIndex: true, indirectDescriptors: true)
        rxKick = try EventNotifier()
        txKick = try EventNotifier()
        typealias F = VirtioNetFeature
        let features = VirtioFeature.version1 | VirtioFeature.eventIndex | VirtioFeature.indirectDescriptors
            | F.mergeableRxBuffers | F.guestCsum | F.guestTSO4 | F.csum | F.hostTSO4 | F.mac
        let activation = VirtioActivation(features: features, memory: memory,
                                          queues: [VirtioQueueBinding(index: 0, queue: rx, kick: rxKick),
                                                   VirtioQueueBinding(index: 1, queue: tx, kick: txKick)],
                                          interrupts: NullInterrupts())
        try device.activate(activation)
    }

    deinit { device.reset() }

    /// Receives `count` frames one at a time; throws unless each arrived whole, in 16 buffers.
    func receive(_ count: Int) throws {
        let memory = machine.memory
        let buffersPerFrame = UInt16((frame.count + Int(Self.bufferSize) - 1) / Int(Self.bufferSize))
        for _ in 0..<count {
            backend.inject(frame)
            let deadline = ContinuousClock.now.advanced(by: .seconds(5))
            var used = usedIndex
            while used == usedIndex {
                guard ContinuousClock.now < deadline else { throw BenchError("frame \(usedIndex / buffersPerFrame) not received") }
                sched_yield()
                used = try memory.loadAcquire(UInt16.self, at: Self.rxUsed + 2)
            }
            guard used &- usedIndex == buffersPerFrame else {
                throw BenchError("a frame took \(used &- usedIndex) buffers, not \(buffersPerFrame)")
            }
            // The used elements' heads go back on the avail ring.
            while usedIndex != used {
                let element = Self.rxUsed + 4 + 8 * UInt64(usedIndex % Self.size)
                let head = try memory.read(UInt32.self, at: element)
                try memory.write(UInt16(truncatingIfNeeded: head), at: Self.rxAvail + 4 + 2 * UInt64(availIndex % Self.size))
                availIndex &+= 1
                usedIndex &+= 1
            }
            try memory.storeRelease(availIndex, at: Self.rxAvail + 2)
        }
    }
}
