import DeviceModel
import Virtio

/// Control-queue classes and commands (§5.1.6.5).
enum VirtioNetControl {
    /// `VIRTIO_NET_OK` / `VIRTIO_NET_ERR`.
    static let ok: UInt8 = 0
    static let error: UInt8 = 1

    static let classRx: UInt8 = 0
    static let rxPromisc: UInt8 = 0
    static let rxAllMulti: UInt8 = 1
    static let rxAllUni: UInt8 = 2
    static let rxNoMulti: UInt8 = 3
    static let rxNoUni: UInt8 = 4
    static let rxNoBroadcast: UInt8 = 5

    static let classMAC: UInt8 = 1
    static let macTableSet: UInt8 = 0
    static let macAddrSet: UInt8 = 1

    static let classMQ: UInt8 = 4
    static let mqVQPairsSet: UInt8 = 0

    static let classGuestOffloads: UInt8 = 5
    static let guestOffloadsSet: UInt8 = 0
}

/// The control queue: `struct virtio_net_ctrl { u8 class; u8 command; u8 data[]; u8 ack; }`
/// with class, command and data device-readable and the ack byte device-writable.
extension NetDataPath {
    func processControl(_ binding: VirtioQueueBinding) {
        guard running else { return }
        var completed = 0
        defer { if completed > 0 && running { notify(binding) } }
        var head: UInt16?
        do {
            while let chain = try binding.queue.popAvailable() {
                head = chain.head
                var reader = ChainReader(memory: memory, buffers: chain.readable)
                guard reader.remaining >= 2, chain.writableLength >= 1 else {
                    throw VirtioDeviceError.malformedRequest(
                        queue: binding.index, head: chain.head,
                        reason: "control command needs class and command (\(reader.remaining) readable bytes) and an ack byte (\(chain.writableLength) writable)")
                }
                let commandClass: UInt8 = try reader.read(UInt8.self)
                let command: UInt8 = try reader.read(UInt8.self)
                let ok = handleControl(commandClass: commandClass, command: command, data: &reader)
                // The other pairs filter and convert what they receive the same way, before
                // the driver sees the ack (§5.1.6.5.2.1).
                if ok && commandClass != VirtioNetControl.classMQ { shareReceiveSettings() }
                if !ok { logger.debug("virtio-net: control class \(commandClass) command \(command) refused") }
                var writer = ChainWriter(memory: memory, buffers: chain.writable)
                try writer.write(ok ? VirtioNetControl.ok : VirtioNetControl.error)
                try binding.queue.pushUsed(head: chain.head, bytesWritten: 1)
                completed += 1
            }
        } catch {
            fail(queue: binding.index, head: head, error)
        }
    }

    /// Applies one command; `false` answers `VIRTIO_NET_ERR` (unknown or not negotiated
    /// commands, malformed data). The effect is in place before the buffer is used
    /// (§5.1.6.5.2.1).
    private func handleControl(commandClass: UInt8, command: UInt8, data: inout ChainReader) -> Bool {
        typealias C = VirtioNetControl
        typealias F = VirtioNetFeature
        switch commandClass {
        case C.classRx:
            let extra = features & F.ctrlRxExtra != 0
            guard features & F.ctrlRx != 0, command <= C.rxNoBroadcast,
                  command <= C.rxAllMulti || extra,
                  let value = try? data.read(UInt8.self) else { return false }
            let on = value != 0
            switch command {
            case C.rxPromisc: filter.promiscuous = on
            case C.rxAllMulti: filter.allMulticast = on
            case C.rxAllUni: filter.allUnicast = on
            case C.rxNoMulti: filter.noMulticast = on
            case C.rxNoUni: filter.noUnicast = on
            default: filter.noBroadcast = on
            }
            return true
        case C.classMAC where command == C.macTableSet:
            guard features & F.ctrlRx != 0,
                  let unicast = readMACTable(&data), let multicast = readMACTable(&data) else { return false }
            filter.setTables(unicast: unicast.kept, unicastCount: unicast.count,
                             multicast: multicast.kept, multicastCount: multicast.count)
            return true
        case C.classMAC where command == C.macAddrSet:
            guard features & F.ctrlMACAddr != 0, let address = readMAC(&data) else { return false }
            // §5.1.6.5.2.1: config space shows it before the command completes.
            mac.set(MACAddress(key: address))
            return true
        case C.classGuestOffloads where command == C.guestOffloadsSet:
            return setGuestOffloads(&data)
        case C.classMQ where command == C.mqVQPairsSet:
            return setQueuePairs(&data)
        default:
            return false
        }
    }

    /// `struct virtio_net_ctrl_mac { le32 entries; u8 macs[entries][6]; }`: the first
    /// ``ReceiveFilter/tableLimit`` addresses and the count given; `nil` when the data is short.
    private func readMACTable(_ data: inout ChainReader) -> (kept: [UInt64], count: Int)? {
        guard let entries = try? data.read(UInt32.self), UInt64(entries) * 6 <= UInt64(data.remaining) else { return nil }
        let count = Int(entries)
        let kept = min(count, ReceiveFilter.tableLimit)
        var table: [UInt64] = []
        table.reserveCapacity(kept)
        for _ in 0..<kept {
            guard let address = readMAC(&data) else { return nil }
            table.append(address)
        }
        // The rest only overflows the table; skip it without reading guest memory.
        guard (try? data.skip((count - kept) * 6)) != nil else { return nil }
        return (table, count)
    }

    private func readMAC(_ data: inout ChainReader) -> UInt64? {
        var raw: (UInt32, UInt16) = (0, 0)   // 6 bytes of storage
        let done = withUnsafeMutableBytes(of: &raw) { p in
            (try? data.read(into: UnsafeMutableRawBufferPointer(rebasing: p[0..<6]))) != nil
        }
        guard done else { return nil }
        return withUnsafeBytes(of: raw) { MACAddress.key($0) }
    }

    /// §5.1.6.5.5: `le16 virtqueue_pairs`, 1...`max_virtqueue_pairs`, with MQ negotiated;
    /// anything else (a hostile 0 or 0xFFFF included) is `VIRTIO_NET_ERR` and changes
    /// nothing. Pairs from the count on stop receiving before the ack is written.
    private func setQueuePairs(_ data: inout ChainReader) -> Bool {
        guard features & VirtioNetFeature.mq != 0, let requested = try? data.read(UInt16.self),
              (1...maximumPairs).contains(Int(requested)) else { return false }
        useQueuePairs(Int(requested))
        logger.info("virtio-net: \(requested) of \(maximumPairs) queue pairs in use")
        return true
    }

    /// Takes pairs `0..<count` into use and the others out of it (first pair's thread).
    func useQueuePairs(_ count: Int) {
        activePairs = count
        for peer in peers {
            let on = peer.pair < count
            peer.loop.sync { peer.setReceiving(on) }
        }
    }

    /// Hands this pair's receive filter and guest offloads to the other pairs.
    private func shareReceiveSettings() {
        let filter = self.filter
        let offloads = guestOffloads
        for peer in peers {
            peer.loop.sync {
                peer.filter = filter
                peer.guestOffloads = offloads
            }
        }
    }

    /// §5.1.6.5.6.1: `le64 offloads`, only `GUEST_*` bits that were negotiated.
    private func setGuestOffloads(_ data: inout ChainReader) -> Bool {
        guard features & VirtioNetFeature.ctrlGuestOffloads != 0,
              let requested = try? data.read(UInt64.self),
              requested & ~(features & VirtioNetFeature.guestOffloads) == 0 else { return false }
        let offloads = VirtioNetFeature.receiveOffloads(for: requested)
        do {
            try backend.setOffloads(offloads)
            for peer in peers { try peer.backend.setOffloads(offloads) }
        } catch {
            logger.error("virtio-net: GUEST_OFFLOADS_SET 0x\(String(requested, radix: 16)): \(error)")
            return false
        }
        guestOffloads = offloads
        logger.info("virtio-net: guest offloads 0x\(String(requested, radix: 16)), receive offloads 0x\(String(offloads.rawValue, radix: 16))")
        return true
    }
}
