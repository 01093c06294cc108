import DeviceModel
import HostIO
import Virtio
#if canImport(Glibc)
import Glibc
#endif

/// Transmit (guest → backend, §5.1.6.2).
extension NetDataPath {
    /// Sends what the driver made available, up to ``budget`` frames per round, gathering
    /// each frame straight from guest RAM (writev of the descriptor chain, no copy). When
    /// the backend is full the chain waits for it to turn writable; no spinning.
    func transmit() {
        guard running, transmitWatch == nil, transmitYield == nil else { return }
        var completed = 0
        defer { if completed > 0 && running { notify(tx) } }
        var head: UInt16?
        do {
            while true {
                try tx.queue.disableNotifications()
                var budget = Self.budget
                while budget > 0 {
                    guard let chain = try pendingTransmit ?? tx.queue.popAvailable() else { break }
                    head = chain.head
                    pendingTransmit = nil
                    budget -= 1
                    guard try send(chain) else {
                        pendingTransmit = chain
                        statistics.txStalls += 1
                        transmitWatch = loop.watch(fd: backend.pollFD, for: .writable) { [self] _ in
                            transmitWatch?.cancel()
                            transmitWatch = nil
                            transmit()
                        }
                        return
                    }
                    try tx.queue.pushUsed(head: chain.head, bytesWritten: 0)
                    completed += 1
                }
                if budget == 0 {
                    // Yield to rx and the other sources; the next round runs on a later
                    // iteration of the loop (notifications stay off meanwhile).
                    transmitYield = loop.schedule(after: .zero) { [self] in
                        transmitYield = nil
                        transmit()
                        return false
                    }
                    return
                }
                if try !tx.queue.enableNotifications() { return }
            }
        } catch {
            fail(queue: tx.index, head: head, error)
        }
    }

    /// Hands one frame to the backend: `false` when it is full (retry later). A frame the
    /// backend rejects (a bad GSO header, too short) is dropped, as a NIC would.
    private func send(_ chain: DescriptorChain) throws -> Bool {
        // §5.1.6.2: header + frame, all device-readable.
        guard chain.writable.isEmpty, chain.readableLength >= headerLength else {
            throw VirtioDeviceError.malformedRequest(
                queue: tx.index, head: chain.head,
                reason: "tx chain needs ≥ \(headerLength) device-readable bytes and no writable ones (has \(chain.readableLength) readable, \(chain.writableLength) writable)")
        }
        transmitRanges.removeAll(keepingCapacity: true)
        for b in chain.readable where b.length > 0 {
            transmitRanges.append((gpa: b.address, length: Int(b.length)))
        }
        transmitSegments.removeAll(keepingCapacity: true)
        // One nested scope per range: a chain of many tiny buffers (a hostile one can have
        // a thousand) is copied into one staging buffer instead, so the stack stays shallow.
        let result = transmitRanges.count <= Self.maximumNestedRanges
            ? try gatherAndSend(from: 0, offset: 0) : try copyAndSend(chain)
        switch result {
        case .success(nil):
            return false
        case .success:
            statistics.txFrames += 1
        case .failure(let e):
            statistics.txDropped += 1
            logger.debug("virtio-net: tx frame dropped: \(e)")
        }
        return true
    }

    /// Gathers ``transmitRanges`` from `index` on into ``transmitSegments`` (`offset` bytes of
    /// the frame gathered so far) and hands the frame to the backend. One guest-memory scope
    /// per range, nested, keeps every pointer valid until the send returns; a range within one
    /// mapping (nearly all) costs no array, so a frame allocates nothing. A range spanning two
    /// mappings takes the slice path.
    private func gatherAndSend(from index: Int, offset: Int) throws(GuestMemoryError) -> Result<Int?, PacketBackendError> {
        guard index < transmitRanges.count else {
            return Result { () throws(PacketBackendError) in try backend.send(transmitSegments) }
        }
        let range = transmitRanges[index]
        let mark = transmitSegments.count
        do {
            return try memory.withContiguousBytes(at: range.gpa, length: range.length) { bytes in
                var next = offset
                appendSegment(UnsafeRawBufferPointer(bytes), offset: &next)
                return Result { () throws(GuestMemoryError) in try gatherAndSend(from: index + 1, offset: next) }
            }.get()
        } catch .notContiguous {
            transmitSegments.removeSubrange(mark...)
            return try memory.withSlices(at: range.gpa, length: range.length) { slices in
                var next = offset
                for slice in slices { appendSegment(UnsafeRawBufferPointer(slice), offset: &next) }
                return Result { () throws(GuestMemoryError) in try gatherAndSend(from: index + 1, offset: next) }
            }.get()
        }
    }

    /// The most guest ranges ``gatherAndSend(from:offset:)`` nests scopes for.
    static let maximumNestedRanges = 64

    /// Copies the chain's readable bytes into a staging buffer and sends them. A frame
    /// larger than the buffer (beyond any GSO frame a backend takes) is dropped, as a NIC
    /// would drop it.
    private func copyAndSend(_ chain: DescriptorChain) throws(GuestMemoryError) -> Result<Int?, PacketBackendError> {
        let total = transmitRanges.reduce(0) { $0 + $1.length }
        guard total <= PacketBufferPool.bufferSize, let buffer = transmitPool.take() else {
            return .failure(.sendFailed(errno: EMSGSIZE))
        }
        defer { transmitPool.give(buffer) }
        var copied = 0
        for range in transmitRanges {
            try memory.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[copied..<copied + range.length]), from: range.gpa)
            copied += range.length
        }
        var offset = 0
        appendSegment(UnsafeRawBufferPointer(rebasing: buffer[0..<copied]), offset: &offset)
        return Result { () throws(PacketBackendError) in try backend.send(transmitSegments) }
    }

    /// Appends `part` (the frame's bytes from `offset` on), inserting the two `num_buffers`
    /// bytes the backend expects after a 10-byte legacy header.
    private func appendSegment(_ part: UnsafeRawBufferPointer, offset: inout Int) {
        var part = part
        if headerLength < VirtioNetHeader.size, offset < headerLength {
            let take = min(part.count, headerLength - offset)
            transmitSegments.append(UnsafeRawBufferPointer(rebasing: part[0..<take]))
            offset += take
            part = UnsafeRawBufferPointer(rebasing: part[take...])
            if offset == headerLength { transmitSegments.append(UnsafeRawBufferPointer(pad)) }
        }
        if !part.isEmpty {
            transmitSegments.append(part)
            offset += part.count
        }
    }
}
