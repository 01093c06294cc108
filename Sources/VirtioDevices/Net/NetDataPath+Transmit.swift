import DeviceModel
import HostIO
import Virtio

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
        let result = try memory.withSlices(covering: transmitRanges) { slices in
            gatherSegments(slices)
            return Result { () throws(PacketBackendError) in try backend.send(transmitSegments) }
        }
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

    /// Fills ``transmitSegments`` from the guest's slices, inserting the two `num_buffers`
    /// bytes the backend expects after a 10-byte legacy header.
    private func gatherSegments(_ slices: [UnsafeMutableRawBufferPointer]) {
        transmitSegments.removeAll(keepingCapacity: true)
        var offset = 0
        for slice in slices {
            var part = UnsafeRawBufferPointer(slice)
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
}
