import DeviceModel
import Logging

/// The running state of one activated ``VirtioNetDevice``: rx, tx and control processing.
///
/// Lives on the device's I/O thread: created at activation, handed to the loop with
/// `execute`, stopped with `sync`; every other method runs inside loop callbacks.
final class NetDataPath: @unchecked Sendable {
    // SAFETY (@unchecked): all mutable state is touched only on the device's EventLoop
    // thread (see type docs); the immutable lets are Sendable values.
    private let backend: any PacketBackend
    private let loop: EventLoop
    private let mac: NetMACState
    private let logger: Logger
    private let memory: any GuestMemory
    private let interrupts: any VirtioInterruptSink
    private let rx: VirtioQueueBinding
    private let tx: VirtioQueueBinding
    private let ctrl: VirtioQueueBinding?
    private let mergeable: Bool
    private let features: UInt64

    private var kickWatches: [EventSource] = []
    private var backendReadWatch: EventSource?
    private var backendWriteWatch: EventSource?
    private var running = false
    private let pool = PacketBufferPool(limit: 8)
    /// A frame read from the backend that is waiting for rx buffers.
    private var pendingFrame: (buffer: UnsafeMutableRawBufferPointer, length: Int)?
    /// Rx chains popped for a frame that did not fit yet (mergeable buffers).
    private var heldChains: [DescriptorChain] = []
    /// A tx chain the backend refused with EAGAIN; retried when it turns writable.
    private var pendingTx: DescriptorChain?
    private var filter = ReceiveFilter()
    private(set) var statistics = VirtioNetDevice.Statistics()

    /// Frames handled per wake-up before yielding to other sources on the loop.
    private static let budget = 256

    init(backend: any PacketBackend, loop: EventLoop, mac: NetMACState, logger: Logger,
         activation: VirtioActivation, rx: VirtioQueueBinding, tx: VirtioQueueBinding, ctrl: VirtioQueueBinding?) {
        self.backend = backend
        self.loop = loop
        self.mac = mac
        self.logger = logger
        self.memory = activation.memory
        self.interrupts = activation.interrupts
        self.rx = rx
        self.tx = tx
        self.ctrl = ctrl
        self.features = activation.features
        self.mergeable = activation.has(VirtioNetFeature.mergeableRxBuffers)
    }

    func start() {
        running = true
        kickWatches.append(loop.watch(fd: rx.kick.fd) { [self] _ in
            rx.kick.drain()
            if backendReadWatch == nil { resumeReceive() }
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

    func stop() {
        running = false
        for w in kickWatches { w.cancel() }
        kickWatches = []
        backendReadWatch?.cancel()
        backendReadWatch = nil
        backendWriteWatch?.cancel()
        backendWriteWatch = nil
        if let frame = pendingFrame { pool.give(frame.buffer) }
        pendingFrame = nil
        heldChains = []
        pendingTx = nil
    }

    /// A driver protocol violation: stop everything and ask the transport for NEEDS_RESET.
    private func fail(_ error: VirtioDeviceError) {
        logger.error("virtio-net: \(error); device needs reset")
        stop()
        interrupts.deviceNeedsReset(error)
    }

    // MARK: Receive (backend → guest)

    private func resumeReceive() {
        guard running, backendReadWatch == nil else { return }
        backendReadWatch = loop.watch(fd: backend.pollFD, for: .readable) { [self] _ in receive() }
        receive()
    }

    private func pauseReceive() {
        backendReadWatch?.cancel()
        backendReadWatch = nil
        statistics.rxPauses += 1
    }

    private func receive() {
        guard running else { return }
        var delivered = 0
        defer { if delivered > 0 && running { notify(rx) } }
        do {
            for _ in 0..<Self.budget {
                if pendingFrame == nil {
                    guard let frame = try readFrame() else { return }
                    pendingFrame = frame
                }
                guard let frame = pendingFrame else { return }
                if try deliver(frame) {
                    pool.give(frame.buffer)
                    pendingFrame = nil
                    delivered += 1
                    statistics.rxFrames += 1
                    continue
                }
                // No rx buffers: stop reading the backend until the driver posts more.
                pauseReceive()
                if try rx.queue.enableNotifications() {
                    resumeReceive()
                }
                return
            }
        } catch let e as VirtqueueError {
            fail(.queue(index: VirtioNetDevice.rxQueue, e))
        } catch let e as VirtioDeviceError {
            fail(e)
        } catch let e as ChainAccessError {
            fail(.malformedRequest(queue: VirtioNetDevice.rxQueue, head: heldChains.first?.head ?? 0, reason: "\(e)"))
        } catch {
            fail(.host(what: "virtio-net receive: \(error)", errno: 0))
        }
    }

    /// Reads one frame that passes the rx filter; `nil` when the backend has none.
    private func readFrame() throws -> (buffer: UnsafeMutableRawBufferPointer, length: Int)? {
        while true {
            guard let buffer = pool.take() else { return nil }
            let n: Int?
            do {
                n = try backend.receive(into: [buffer])
            } catch {
                pool.give(buffer)
                logger.error("virtio-net: backend receive failed: \(error)")
                pauseReceive()
                return nil
            }
            guard let n else {
                pool.give(buffer)
                return nil
            }
            let destination = UnsafeRawBufferPointer(rebasing: buffer[VirtioNetHeader.size..<min(n, VirtioNetHeader.size + 6)])
            if n < VirtioNetHeader.size + 14 || !filterAccepts(destination) {
                statistics.rxDroppedByFilter += 1
                pool.give(buffer)
                continue
            }
            return (buffer, n)
        }
    }

    private func filterAccepts(_ destination: UnsafeRawBufferPointer) -> Bool {
        if filter.promiscuous { return true }
        return filter.accepts(destination: destination, mac: mac.bytes)
    }

    /// Copies `frame` into rx buffers. Returns `false` (keeping what it popped) when the
    /// guest has not posted enough buffers yet.
    private func deliver(_ frame: (buffer: UnsafeMutableRawBufferPointer, length: Int)) throws -> Bool {
        let length = frame.length
        if mergeable {
            // §5.1.6.3.2: spread the frame over as many buffers as it needs.
            var capacity = heldChains.reduce(0) { $0 + $1.writableLength }
            while capacity < length {
                guard let chain = try rx.queue.popAvailable() else { return false }
                try checkReceiveChain(chain)
                heldChains.append(chain)
                capacity += chain.writableLength
            }
            let count = heldChains.count
            storeNumBuffers(UInt16(count), in: frame.buffer)
            var offset = 0
            for chain in heldChains {
                let n = min(chain.writableLength, length - offset)
                var writer = ChainWriter(memory: memory, buffers: chain.writable)
                try writer.write(UnsafeRawBufferPointer(rebasing: frame.buffer[offset..<offset + n]))
                offset += n
                try rx.queue.pushUsed(head: chain.head, bytesWritten: UInt32(n))
            }
            heldChains = []
            return true
        }
        guard let chain = try rx.queue.popAvailable() else { return false }
        try checkReceiveChain(chain)
        guard chain.writableLength >= length else {
            // Without mergeable buffers the guest sized its buffers for the offloads it
            // negotiated; a larger frame cannot be delivered (§5.1.6.3.1). Drop it, return
            // the buffer empty so the driver recycles it.
            statistics.rxDroppedTooLarge += 1
            try rx.queue.pushUsed(head: chain.head, bytesWritten: 0)
            return true
        }
        storeNumBuffers(1, in: frame.buffer)
        var writer = ChainWriter(memory: memory, buffers: chain.writable)
        try writer.write(UnsafeRawBufferPointer(rebasing: frame.buffer[0..<length]))
        try rx.queue.pushUsed(head: chain.head, bytesWritten: UInt32(length))
        return true
    }

    private func checkReceiveChain(_ chain: DescriptorChain) throws(VirtioDeviceError) {
        // §5.1.6.3: receive buffers are device-writable and at least hold the header.
        guard chain.readable.isEmpty, chain.writableLength >= VirtioNetHeader.size else {
            throw .malformedRequest(queue: VirtioNetDevice.rxQueue, head: chain.head,
                                    reason: "rx chain needs ≥ \(VirtioNetHeader.size) device-writable bytes and no readable ones")
        }
    }

    private func storeNumBuffers(_ n: UInt16, in buffer: UnsafeMutableRawBufferPointer) {
        buffer.storeBytes(of: n.littleEndian, toByteOffset: VirtioNetHeader.numBuffersOffset, as: UInt16.self)
    }

    // MARK: Transmit (guest → backend)

    private func transmit() {
        guard running, backendWriteWatch == nil else { return }
        var completed = 0
        defer { if completed > 0 && running { notify(tx) } }
        do {
            while true {
                try tx.queue.disableNotifications()
                var budget = Self.budget
                while budget > 0 {
                    guard let chain = try pendingTx ?? tx.queue.popAvailable() else { break }
                    pendingTx = nil
                    budget -= 1
                    // §5.1.6.2: header + frame, all device-readable.
                    guard chain.writable.isEmpty, chain.readableLength >= VirtioNetHeader.size else {
                        throw VirtioDeviceError.malformedRequest(
                            queue: VirtioNetDevice.txQueue, head: chain.head,
                            reason: "tx chain needs ≥ \(VirtioNetHeader.size) device-readable bytes and no writable ones")
                    }
                    let ranges = chain.readable.map { (gpa: $0.address, length: Int($0.length)) }
                    // Zero copy: the backend gathers straight from guest RAM (writev).
                    let result = try memory.withSlices(covering: ranges) { slices in
                        Result { () throws(PacketBackendError) in try backend.send(slices.map { UnsafeRawBufferPointer($0) }) }
                    }
                    switch result {
                    case .success(nil):
                        // Backend full: keep the chain and wait for it to drain, no spinning.
                        pendingTx = chain
                        backendWriteWatch = loop.watch(fd: backend.pollFD, for: .writable) { [self] _ in
                            backendWriteWatch?.cancel()
                            backendWriteWatch = nil
                            transmit()
                        }
                        return
                    case .success:
                        statistics.txFrames += 1
                    case .failure(let e):
                        // A frame the backend rejects (e.g. a bad GSO header) is dropped, as a NIC would.
                        logger.debug("virtio-net: tx frame dropped: \(e)")
                    }
                    try tx.queue.pushUsed(head: chain.head, bytesWritten: 0)
                    completed += 1
                }
                if budget == 0 {
                    // Yield to rx and other devices; come back on the next iteration.
                    loop.execute { [self] in transmit() }
                    return
                }
                if try !tx.queue.enableNotifications() { return }
            }
        } catch let e as VirtqueueError {
            fail(.queue(index: VirtioNetDevice.txQueue, e))
        } catch let e as VirtioDeviceError {
            fail(e)
        } catch {
            fail(.malformedRequest(queue: VirtioNetDevice.txQueue, head: 0, reason: "\(error)"))
        }
    }

    // MARK: Control queue (§5.1.6.5)

    private func processControl(_ binding: VirtioQueueBinding) {
        guard running else { return }
        var completed = 0
        defer { if completed > 0 && running { notify(binding) } }
        do {
            while let chain = try binding.queue.popAvailable() {
                var reader = ChainReader(memory: memory, buffers: chain.readable)
                guard reader.remaining >= 2, chain.writableLength >= 1 else {
                    throw VirtioDeviceError.malformedRequest(queue: VirtioNetDevice.ctrlQueue, head: chain.head,
                                                             reason: "control command needs class, command and an ack byte")
                }
                let commandClass: UInt8 = try reader.read(UInt8.self)
                let command: UInt8 = try reader.read(UInt8.self)
                let ack: UInt8 = handleControl(commandClass: commandClass, command: command, reader: &reader) ? 0 : 1
                var writer = ChainWriter(memory: memory, buffers: chain.writable)
                try writer.write(ack)
                try binding.queue.pushUsed(head: chain.head, bytesWritten: 1)
                completed += 1
            }
        } catch let e as VirtqueueError {
            fail(.queue(index: VirtioNetDevice.ctrlQueue, e))
        } catch let e as VirtioDeviceError {
            fail(e)
        } catch {
            fail(.malformedRequest(queue: VirtioNetDevice.ctrlQueue, head: 0, reason: "\(error)"))
        }
    }

    /// Applies one control command; `false` answers `VIRTIO_NET_ERR`.
    private func handleControl(commandClass: UInt8, command: UInt8, reader: inout ChainReader) -> Bool {
        switch (commandClass, command) {
        case (0, 0), (0, 1):   // VIRTIO_NET_CTRL_RX_PROMISC / _ALLMULTI
            guard features & VirtioNetFeature.ctrlRx != 0, let on = try? reader.read(UInt8.self) else { return false }
            if command == 0 { filter.promiscuous = on != 0 } else { filter.allMulticast = on != 0 }
            return true
        case (1, 0):           // VIRTIO_NET_CTRL_MAC_TABLE_SET: unicast table, then multicast table
            guard features & VirtioNetFeature.ctrlRx != 0,
                  let unicast = readMACTable(&reader), let multicast = readMACTable(&reader) else { return false }
            filter.unicastTable = unicast
            filter.multicastTable = multicast
            return true
        case (1, 1):           // VIRTIO_NET_CTRL_MAC_ADDR_SET
            guard features & VirtioNetFeature.ctrlMACAddr != 0, let mac = try? reader.read(count: 6) else { return false }
            self.mac.update { $0 = mac }
            return true
        default:
            return false
        }
    }

    private func readMACTable(_ reader: inout ChainReader) -> Set<[UInt8]>? {
        guard let entries = try? reader.read(UInt32.self), Int(entries) <= reader.remaining / 6 else { return nil }
        var table: Set<[UInt8]> = []
        for _ in 0..<entries {
            guard let mac = try? reader.read(count: 6) else { return nil }
            table.insert(mac)
        }
        return table
    }

    private func notify(_ binding: VirtioQueueBinding) {
        do {
            if try binding.queue.needsNotification() { interrupts.signalUsedBuffers(queue: binding.index) }
        } catch {
            fail(.queue(index: binding.index, error))
        }
    }
}
