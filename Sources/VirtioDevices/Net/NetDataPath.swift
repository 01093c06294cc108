import DeviceModel
import HostIO
import Logging
import Virtio

/// The running state of one queue pair of an activated ``VirtioNetDevice``: rx, tx and, on
/// the first pair, control processing (in `NetDataPath+Receive`, `+Transmit`, `+Control`).
///
/// Lives on its pair's I/O thread: created at activation, handed to the loop with
/// `execute`, stopped with `sync`; every other method runs inside loop callbacks. The
/// first pair's control queue reaches the other pairs (``peers``) only through their loops.
final class NetDataPath: @unchecked Sendable {
    // SAFETY (@unchecked): all mutable state is touched only on the device's EventLoop
    // thread (see type docs); the immutable lets are Sendable values or, for `pad`, a
    // buffer nobody writes after init.
    /// Which queue pair this is (0 for the first).
    let pair: Int
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
    /// Whether the pair is in use (`VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET`): a pair out of use reads
    /// nothing from its backend (§5.1.6.5.5: no packets on receive queues beyond the count).
    var receiving = true
    /// The other pairs, for the first pair's control queue (empty on the others).
    var peers: [NetDataPath] = []
    /// The pairs in use (the last VQ_PAIRS_SET, or what activation chose); first pair only.
    var activePairs = 1
    /// `max_virtqueue_pairs`: the range VQ_PAIRS_SET accepts.
    let maximumPairs: Int
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
    /// Host staging for tx frames of many tiny buffers (see `maximumNestedRanges`).
    let transmitPool = PacketBufferPool(limit: 1)
    /// A frame read from the backend that is waiting for rx buffers.
    var pendingFrame: StagedFrame?
    /// Rx chains popped and not yet used: for a frame that needs more mergeable buffers,
    /// or left over after a frame was dropped. They go to the next frame.
    var heldChains: [DescriptorChain] = []
    /// Used rx chains kept for their buffer lists: the next chains are popped into them, so
    /// that holding many chains for one frame (mergeable buffers) allocates nothing once warm.
    var spareChains: [DescriptorChain] = []
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

    init(pair: Int, backend: any PacketBackend, loop: EventLoop, mac: NetMACState, mtu: UInt16, logger: Logger,
         features: UInt64, memory: any GuestMemory, interrupts: any VirtioInterruptSink,
         rx: VirtioQueueBinding, tx: VirtioQueueBinding, ctrl: VirtioQueueBinding?, maximumPairs: Int) {
        self.pair = pair
        self.maximumPairs = maximumPairs
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
        heldChains.reserveCapacity(Int(rx.queue.size))
        spareChains.reserveCapacity(Int(rx.queue.size))
    }

    deinit {
        pad.deallocate()
    }

    /// Starts serving; a pair not yet in use (`receiving` false) transmits but reads nothing.
    func start(receiving: Bool) {
        running = true
        self.receiving = receiving
        steerBackend(attached: receiving)
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

    /// Takes the pair into use or out of it (VQ_PAIRS_SET). Out of use, the backend is not
    /// read and, if it is one queue of a multi-queue tap, detached so that the host steers
    /// its flows to the pairs in use.
    func setReceiving(_ on: Bool) {
        guard running, receiving != on else { return }
        receiving = on
        steerBackend(attached: on)
        if on {
            resumeReceive()
        } else {
            receiveWatch?.cancel()
            receiveWatch = nil
            receiveRetry?.cancel()
            receiveRetry = nil
        }
    }

    private func steerBackend(attached: Bool) {
        guard let steered = backend as? any QueueSteeredPacketBackend else { return }
        do { try steered.setQueueAttached(attached) } catch {
            logger.error("virtio-net pair \(pair): \(error)")
        }
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
