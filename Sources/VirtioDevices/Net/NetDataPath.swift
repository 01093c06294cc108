import DeviceModel
import HostIO
import Logging
import Virtio

/// The running state of one activated ``VirtioNetDevice``: rx, tx and control processing
/// (in `NetDataPath+Receive`, `+Transmit`, `+Control`).
///
/// Lives on the device's I/O thread: created at activation, handed to the loop with
/// `execute`, stopped with `sync`; every other method runs inside loop callbacks.
final class NetDataPath: @unchecked Sendable {
    // SAFETY (@unchecked): all mutable state is touched only on the device's EventLoop
    // thread (see type docs); the immutable lets are Sendable values or, for `pad`, a
    // buffer nobody writes after init.
    let backend: any PacketBackend
    let loop: EventLoop
    let mac: NetMACState
    let logger: Logger
    let memory: any GuestMemory
    let interrupts: any VirtioInterruptSink
    let rx: VirtioQueueBinding
    let tx: VirtioQueueBinding
    let ctrl: VirtioQueueBinding?
    /// The negotiated features, less bits whose requirements are missing (§5.1.3.1).
    let features: UInt64
    /// The virtio-net header size the driver uses: 12, or 10 for a legacy driver without
    /// MRG_RXBUF (§5.1.6.1).
    let headerLength: Int
    let mergeable: Bool
    /// The MTU the driver agreed to (`VIRTIO_NET_F_MTU`), if it did.
    let mtu: Int?
    /// Two zero bytes: `num_buffers` for the backend behind a guest's 10-byte tx header.
    let pad: UnsafeMutableRawBufferPointer

    var running = false
    var kickWatches: [EventSource] = []
    /// Watches the backend for frames while the guest has rx buffers.
    var receiveWatch: EventSource?
    /// A delayed retry after the backend failed a read.
    var receiveRetry: EventSource?
    /// Watches the backend for room after it refused a tx frame with EAGAIN.
    var transmitWatch: EventSource?
    /// The next transmit round after a full budget (yields the loop to rx and others).
    var transmitYield: EventSource?

    /// Host staging for received frames: rx copies, never allocates per packet.
    let pool = PacketBufferPool(limit: 2)
    /// A frame read from the backend that is waiting for rx buffers.
    var pendingFrame: StagedFrame?
    /// Rx chains popped and not yet used: for a frame that needs more mergeable buffers,
    /// or left over after a frame was dropped. They go to the next frame.
    var heldChains: [DescriptorChain] = []
    /// A tx chain the backend refused with EAGAIN; retried when it turns writable.
    var pendingTransmit: DescriptorChain?
    /// Reused per packet: segments handed to the backend, ranges gathered from the guest,
    /// used elements of a merged packet.
    var transmitSegments: [UnsafeRawBufferPointer] = []
    var transmitRanges: [(gpa: UInt64, length: Int)] = []
    var usedElements: [(head: UInt16, bytesWritten: UInt32)] = []

    /// What the guest takes on receive; changed by `VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET`.
    var guestOffloads: PacketOffloads
    var filter = ReceiveFilter()
    var statistics = VirtioNetDevice.Statistics()

    /// Frames handled per wake-up before yielding to other sources on the loop.
    static let budget = 256

    init(backend: any PacketBackend, loop: EventLoop, mac: NetMACState, mtu: UInt16, logger: Logger,
         features: UInt64, memory: any GuestMemory, interrupts: any VirtioInterruptSink,
         rx: VirtioQueueBinding, tx: VirtioQueueBinding, ctrl: VirtioQueueBinding?) {
        self.backend = backend
        self.loop = loop
        self.mac = mac
        self.logger = logger
        self.memory = memory
        self.interrupts = interrupts
        self.rx = rx
        self.tx = tx
        self.ctrl = ctrl
        self.features = features
        self.headerLength = VirtioNetHeader.size(for: features)
        self.mergeable = features & VirtioNetFeature.mergeableRxBuffers != 0
        self.mtu = features & VirtioNetFeature.mtu != 0 ? Int(mtu) : nil
        self.guestOffloads = VirtioNetFeature.receiveOffloads(for: features)
        pad = UnsafeMutableRawBufferPointer.allocate(byteCount: 2, alignment: 2)
        pad.initializeMemory(as: UInt8.self, repeating: 0)
        transmitSegments.reserveCapacity(Int(tx.queue.size) + 1)
        transmitRanges.reserveCapacity(Int(tx.queue.size))
        usedElements.reserveCapacity(Int(rx.queue.size))
    }

    deinit {
        pad.deallocate()
    }

    func start() {
        running = true
        kickWatches.append(loop.watch(fd: rx.kick.fd) { [self] _ in
            rx.kick.drain()
            resumeReceive()
        })
        kickWatches.append(loop.watch(fd: tx.kick.fd) { [self] _ in
            tx.kick.drain()
            transmit()
        })
        if let ctrl {
            kickWatches.append(loop.watch(fd: ctrl.kick.fd) { [self] _ in
                ctrl.kick.drain()
                processControl(ctrl)
            })
            processControl(ctrl)
        }
        // The driver may have posted buffers and kicked before we were watching.
        transmit()
        resumeReceive()
    }

    /// Stops all processing; whatever is staged or held is dropped (the driver is resetting
    /// the device and forgets its rings).
    func stop() {
        running = false
        for w in kickWatches { w.cancel() }
        kickWatches = []
        for source in [receiveWatch, receiveRetry, transmitWatch, transmitYield] { source?.cancel() }
        receiveWatch = nil
        receiveRetry = nil
        transmitWatch = nil
        transmitYield = nil
        if let frame = pendingFrame { pool.give(frame.buffer) }
        pendingFrame = nil
        heldChains = []
        pendingTransmit = nil
    }

    /// A driver protocol violation: stop everything and ask the transport for NEEDS_RESET
    /// (§2.1.2) instead of retrying in a loop.
    func fail(_ error: VirtioDeviceError) {
        logger.error("virtio-net: \(error); device needs reset")
        stop()
        interrupts.deviceNeedsReset(error)
    }

    /// Maps an error thrown while processing `queue` to the NEEDS_RESET reason.
    func fail(queue: Int, head: UInt16?, _ error: any Error) {
        switch error {
        case let e as VirtqueueError: fail(.queue(index: queue, e))
        case let e as VirtioDeviceError: fail(e)
        default: fail(.malformedRequest(queue: queue, head: head ?? 0, reason: "\(error)"))
        }
    }

    /// Used-buffer notification for `binding`, unless the driver suppressed it (§2.7.10).
    func notify(_ binding: VirtioQueueBinding) {
        do {
            if try binding.queue.needsNotification() { interrupts.signalUsedBuffers(queue: binding.index) }
        } catch {
            fail(.queue(index: binding.index, error))
        }
    }
}
