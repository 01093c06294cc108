import DeviceModel
import Virtio
#if canImport(Glibc)
import Glibc
#endif

/// A received frame in a pool buffer, checked and with its header in the guest's form:
/// `buffer[start..<end]` is what the guest gets (header of the guest's size, then the frame).
struct StagedFrame {
    let buffer: UnsafeMutableRawBufferPointer
    let start: Int
    let end: Int

    var guestView: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: buffer[start..<end]) }
}

/// Receive (backend → guest, §5.1.6.3–4).
extension NetDataPath {
    /// Starts (or continues) reading the backend. Called at start and on every rx kick;
    /// while reading, the driver need not kick (NO_NOTIFY), as nothing waits for buffers.
    func resumeReceive() {
        guard running, receiving, receiveWatch == nil else { return }
        receiveRetry?.cancel()
        receiveRetry = nil
        do { try rx.queue.disableNotifications() } catch {
            fail(.queue(index: rx.index, error))
            return
        }
        receiveWatch = loop.watch(fd: backend.pollFD, for: .readable) { [self] _ in receive() }
        receive()
    }

    private func pauseReceive() {
        receiveWatch?.cancel()
        receiveWatch = nil
    }

    private enum ReadOutcome {
        case frame(StagedFrame)
        case dropped
        case empty
    }

    private enum Delivery {
        case delivered
        case dropped
        case noBuffers
    }

    /// Moves up to ``budget`` frames from the backend to the guest. With no rx buffers for
    /// the next frame it keeps that frame staged, stops watching the backend and asks for
    /// a kick (back-pressure: nothing is read that cannot be delivered, nothing spins).
    func receive() {
        guard running, receiving else { return }
        var delivered = 0
        defer { if delivered > 0 && running { notify(rx) } }
        do {
            for _ in 0..<Self.budget {
                guard running else { return }
                if pendingFrame == nil {
                    switch readFrame() {
                    case .empty: return
                    case .dropped: continue
                    case .frame(let f): pendingFrame = f
                    }
                }
                guard let frame = pendingFrame else { return }
                switch try deliver(frame) {
                case .delivered:
                    delivered += 1
                    statistics.rxFrames += 1
                case .dropped:
                    break
                case .noBuffers:
                    // Re-arm the kick, then look again: buffers posted meanwhile would
                    // otherwise go unnoticed (§2.7.10).
                    if try rx.queue.enableNotifications() {
                        try rx.queue.disableNotifications()
                        continue
                    }
                    pauseReceive()
                    statistics.rxPauses += 1
                    return
                }
                pool.give(frame.buffer)
                pendingFrame = nil
            }
        } catch {
            fail(queue: rx.index, head: heldChains.first?.head, error)
        }
    }

    /// Reads one frame and stages it for the guest; `.dropped` for one the guest must not
    /// get (filtered, malformed, above the MTU, offloads it did not negotiate).
    private func readFrame() -> ReadOutcome {
        guard let buffer = pool.take() else {
            // Cannot happen with one frame staged at a time; if it did, returning with the
            // backend still readable would spin: wait for the next kick instead.
            pauseReceive()
            return .empty
        }
        let n: Int?
        do {
            n = try backend.receive(into: buffer)
        } catch {
            // Not the guest's fault: log, stop reading and try again in a second rather
            // than spin on a failing descriptor.
            pool.give(buffer)
            logger.error("virtio-net: backend receive failed: \(error); retrying in 1 s")
            pauseReceive()
            receiveRetry = loop.schedule(after: .seconds(1)) { [self] in
                receiveRetry = nil
                resumeReceive()
                return false
            }
            return .empty
        }
        guard let n else {
            pool.give(buffer)
            return .empty
        }
        if let frame = stage(buffer, length: n) { return .frame(frame) }
        pool.give(buffer)
        return .dropped
    }

    /// Checks a frame the backend wrote into `buffer` and turns its header into the form
    /// the guest negotiated; `nil` (counted) when the guest must not get it.
    private func stage(_ buffer: UnsafeMutableRawBufferPointer, length: Int) -> StagedFrame? {
        let h = VirtioNetHeader.size
        guard length >= h + 14 else {
            statistics.rxDroppedMalformed += 1
            return nil
        }
        guard filter.accepts(destinationIn: UnsafeRawBufferPointer(rebasing: buffer[h..<h + 6]), mac: mac.key) else {
            statistics.rxDroppedByFilter += 1
            return nil
        }
        let gsoType = buffer[VirtioNetHeader.gsoTypeOffset]
        guard VirtioNetHeader.deliverable(flags: buffer[0], gsoType: gsoType, to: guestOffloads) else {
            // Queued in the backend before the guest's offloads shrank (reset, GUEST_OFFLOADS_SET).
            statistics.rxDroppedMalformed += 1
            return nil
        }
        if let mtu, gsoType & ~VirtioNetHeader.gsoECN == VirtioNetHeader.gsoNone,
           length - h > mtu + Self.linkHeaderLength(buffer) {
            // §5.1.4.1: nothing above the MTU the driver agreed to, unless segmented.
            statistics.rxDroppedTooLarge += 1
            return nil
        }
        buffer[0] = VirtioNetHeader.guestFlags(buffer[0], for: guestOffloads)
        // A 10-byte legacy header lacks `num_buffers` (bytes 10–11): slide the first ten
        // bytes up against the frame.
        let start = h - headerLength
        if start > 0 { memmove(buffer.baseAddress! + start, buffer.baseAddress!, headerLength) }
        return StagedFrame(buffer: buffer, start: start, end: length)
    }

    /// Copies a staged frame into rx buffers, or says why not. Repeatable: a frame waiting
    /// for buffers is delivered by a later call.
    private func deliver(_ frame: StagedFrame) throws -> Delivery {
        mergeable ? try deliverMerged(frame) : try deliverWhole(frame)
    }

    /// §5.1.6.3.1 without MRG_RXBUF: the whole packet in one buffer (which may span
    /// descriptors). A packet that does not fit is dropped and the buffer kept for the next.
    private func deliverWhole(_ frame: StagedFrame) throws -> Delivery {
        let view = frame.guestView
        if heldChains.isEmpty {
            guard try holdNextReceiveChain() else { return .noBuffers }
        }
        guard heldChains[0].writableLength >= view.count else {
            statistics.rxDroppedTooLarge += 1
            return .dropped
        }
        if headerLength == VirtioNetHeader.size { storeNumBuffers(1, in: frame.buffer) }
        var writer = ChainWriter(memory: memory, buffers: heldChains[0].writable)
        try writer.write(view)
        let head = heldChains[0].head
        releaseHeldChains(1)
        try rx.queue.pushUsed(head: head, bytesWritten: UInt32(view.count))
        return .delivered
    }

    /// §5.1.6.4 with MRG_RXBUF: the packet spread over as many buffers as it needs, every
    /// buffer but the last filled, `num_buffers` in the first header, all used elements
    /// published together.
    private func deliverMerged(_ frame: StagedFrame) throws -> Delivery {
        let view = frame.guestView
        var capacity = 0
        var needed = 0
        while capacity < view.count {
            if needed == heldChains.count {
                guard heldChains.count < Int(rx.queue.size) else {
                    // Larger than every buffer the ring can hold: drop rather than stall.
                    statistics.rxDroppedTooLarge += 1
                    return .dropped
                }
                guard try holdNextReceiveChain() else { return .noBuffers }
            }
            capacity += heldChains[needed].writableLength
            needed += 1
        }
        storeNumBuffers(UInt16(needed), in: frame.buffer)
        usedElements.removeAll(keepingCapacity: true)
        var offset = 0
        for chain in heldChains[0..<needed] {
            let n = min(chain.writableLength, view.count - offset)
            var writer = ChainWriter(memory: memory, buffers: chain.writable)
            try writer.write(UnsafeRawBufferPointer(rebasing: view[offset..<offset + n]))
            offset += n
            usedElements.append((head: chain.head, bytesWritten: UInt32(n)))
        }
        releaseHeldChains(needed)
        try rx.queue.pushUsed(usedElements)
        return .delivered
    }

    /// Pops the next rx chain onto ``heldChains``, into the buffer lists of a chain used
    /// before; `false` when the ring is empty.
    private func holdNextReceiveChain() throws -> Bool {
        var chain = spareChains.popLast() ?? DescriptorChain()
        guard try rx.queue.popAvailable(into: &chain) else {
            spareChains.append(chain)
            return false
        }
        try checkReceiveChain(chain)
        heldChains.append(chain)
        return true
    }

    /// Moves the first `count` held chains (used now) to ``spareChains`` for their storage.
    private func releaseHeldChains(_ count: Int) {
        spareChains.append(contentsOf: heldChains[0..<count])
        heldChains.removeFirst(count)
    }

    private func checkReceiveChain(_ chain: DescriptorChain) throws(VirtioDeviceError) {
        // §5.1.6.3: receive buffers are device-writable and hold at least the header.
        guard chain.readable.isEmpty, chain.writableLength >= headerLength else {
            throw .malformedRequest(queue: rx.index, head: chain.head,
                                    reason: "rx buffer needs ≥ \(headerLength) device-writable bytes and no readable ones (has \(chain.writableLength) writable, \(chain.readableLength) readable)")
        }
    }

    private func storeNumBuffers(_ n: UInt16, in header: UnsafeMutableRawBufferPointer) {
        header.storeBytes(of: n.littleEndian, toByteOffset: VirtioNetHeader.numBuffersOffset, as: UInt16.self)
    }

    /// The Ethernet header length of the frame in `buffer`: 14, or 18 with an
    /// 802.1Q/802.1ad tag.
    private static func linkHeaderLength(_ buffer: UnsafeMutableRawBufferPointer) -> Int {
        let typeOffset = VirtioNetHeader.size + 12
        let etherType = UInt16(buffer[typeOffset]) << 8 | UInt16(buffer[typeOffset + 1])
        return etherType == 0x8100 || etherType == 0x88A8 ? 18 : 14
    }
}
