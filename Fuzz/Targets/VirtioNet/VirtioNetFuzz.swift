import DeviceModel
import FuzzDeviceSupport
import FuzzSupport
import Virtio
import VirtioDevices
#if canImport(Glibc)
import Glibc
#endif

/// virtio-net (virtio 1.2 §5.1.6) on the real device and its I/O thread, over an in-memory
/// packet backend: per input, a sequence of transmit chains (vnet header and frame), control
/// commands, receive buffers and frames arriving from the network.
///
/// Invariants beyond "no crash" (besides the harness's: no write outside writable buffers,
/// used length within them, a refused chain untouched): a transmit chain is refused exactly
/// when it has writable buffers, fewer than 12 readable bytes or a bad buffer, and otherwise
/// reaches the backend byte for byte; a control command is refused exactly when it lacks
/// class, command or ack byte, and otherwise gets an ack of OK or ERR in its first writable
/// byte with nothing else written (used length 1); a frame the guest receives is one that
/// arrived, in order, with a header whose `num_buffers` counts the chains it spans and whose
/// flags are at most NEEDS_CSUM and DATA_VALID.
@main
struct VirtioNetFuzz {
    static let rx = 0, tx = 1, ctrl = 2

    static func main() {
        guard let packets = try? MemoryPackets(),
              let device = try? VirtioNetDevice(configuration: VirtioNetConfiguration(queueSize: 64), backend: packets) else {
            fuzzFailure("cannot create the device")
        }
        let h = DeviceQueueHarness(device: device, features: device.offeredFeatures & ~VirtioFeature.eventIndex, queues: [rx, tx, ctrl])
        // Frames injected and not yet delivered or dropped: the device may hold one for the
        // next input's buffers, so this outlives an input until the device restarts.
        var injected: [[UInt8]] = []
        FuzzDriver.run { data in
            var input = FuzzInput(data)
            let mac = Array(device.readConfig().prefix(6))
            // A refusal is explained by the malformed transmit or control chain that caused
            // it, or by a malformed receive chain posted (refused when a frame reaches it).
            var explained = false
            var malformedReceive = false
            for _ in 0..<8 where !input.isExhausted && !h.needsReset {
                switch input.u8() % 4 {
                case 0: explained = transmit(&input, h, packets, malformedReceive: malformedReceive)
                case 1: explained = control(&input, h, malformedReceive: malformedReceive)
                case 2:
                    let buffers = input.u8() & 0xf0 == 0xf0
                        ? FuzzBuffer.decode(&input, maxBuffers: 4, maxLength: 2048)
                        : (0..<1 + Int(input.u8() % 3)).map { _ in .writable(12 + Int(input.u16() % 1600)) }
                    guard h.post(buffers, on: rx) != nil else { continue }
                    // §5.1.6.3: only writable buffers, room for the 12-byte header at least.
                    malformedReceive = malformedReceive || buffers.contains(where: { $0.outsideRAM || !$0.writable })
                        || buffers.reduce(0) { $0 + $1.length } < 12
                default:
                    let frame = frame(&input, mac: mac)
                    injected.append(frame)
                    packets.inject(frame)
                    h.kick(rx)
                }
            }
            // Give frames that have buffers time to land, then check what the guest got.
            let deadline = ContinuousClock.now.advanced(by: .milliseconds(50))
            while !h.needsReset, packets.pending > 0, !(h.posted[rx]?.isEmpty ?? true), ContinuousClock.now < deadline {
                usleep(100)
            }
            checkReceived(h.takeReturned(rx), injected: &injected, h)
            if h.needsReset { invariant(explained || malformedReceive, "the device failed without a malformed chain") }
            if h.mustRestart || injected.count > 32 {
                // Frames still queued would reach the next activation: drop them first.
                packets.clear()
                h.finish(restart: true) { checkReceived(h.takeReturned(rx), injected: &injected, h) }
                injected = []
            } else {
                h.finish { checkReceived(h.takeReturned(rx), injected: &injected, h) }
            }
        }
    }

    /// Posts a transmit chain and checks its fate; `true` when the device failed. A posted
    /// malformed receive buffer (`malformedReceive`) may be what it failed on instead.
    static func transmit(_ input: inout FuzzInput, _ h: DeviceQueueHarness, _ packets: MemoryPackets, malformedReceive: Bool) -> Bool {
        let buffers: [FuzzBuffer]
        if input.u8() & 0xf0 == 0xf0 {
            buffers = FuzzBuffer.decode(&input, maxBuffers: 4, maxLength: 1600)
        } else {
            var bytes = input.take(Int(input.u16() % 1600))
            if input.u8() & 1 == 0 { bytes = [UInt8](repeating: 0, count: 12) + bytes }   // a clean header
            let cut = bytes.isEmpty ? 0 : Int(input.u16()) % bytes.count
            buffers = cut == 0 ? [.readable(bytes)] : [.readable(Array(bytes[..<cut])), .readable(Array(bytes[cut...]))]
        }
        _ = packets.takeSent()
        guard let chain = h.post(buffers, on: tx) else { return false }
        let outcome = h.wait(for: chain)
        let readable = buffers.filter { !$0.writable }.reduce(0) { $0 + $1.length }
        let wellFormed = !buffers.contains(where: \.outsideRAM) && !buffers.contains(where: \.writable) && readable >= 12
        if !wellFormed { _ = h.awaitNeedsReset() }
        if h.needsReset {
            invariant(!wellFormed || malformedReceive, "a well-formed transmit chain was refused")
            h.checkMemory(except: wellFormed ? nil : chain)
            return true
        }
        invariant(wellFormed, "a malformed transmit chain was sent: \(buffers.map { ($0.length, $0.writable, $0.outsideRAM) })")
        guard case .used(let length) = outcome else { fuzzFailure("transmit chain never completed: \(outcome)") }
        invariant(length == 0, "transmit used length \(length)")
        let sent = packets.takeSent()
        let expected = chain.readable.flatMap { h.bytes($0) }
        invariant(sent == [expected], "the backend got \(sent.map(\.count)) bytes, not the \(expected.count)-byte frame")
        h.checkMemory()
        return false
    }

    /// Posts a control command and checks its fate, as ``transmit(_:_:_:malformedReceive:)``.
    static func control(_ input: inout FuzzInput, _ h: DeviceQueueHarness, malformedReceive: Bool) -> Bool {
        let buffers: [FuzzBuffer]
        if input.u8() & 0xf0 == 0xf0 {
            buffers = FuzzBuffer.decode(&input, maxBuffers: 4, maxLength: 64)
        } else {
            let classes: [UInt8] = [0, 1, 5, 2, 4]
            let command = [classes[Int(input.u8()) % classes.count], input.u8() % 7]
            buffers = [.readable(command + input.take(Int(input.u8() % 48))), .writable(1 + Int(input.u8() % 3))]
        }
        guard let chain = h.post(buffers, on: ctrl) else { return false }
        let outcome = h.wait(for: chain)
        let readable = buffers.filter { !$0.writable }.reduce(0) { $0 + $1.length }
        let writable = buffers.filter(\.writable).reduce(0) { $0 + $1.length }
        let wellFormed = !buffers.contains(where: \.outsideRAM) && !DeviceQueueHarness.readableAfterWritable(buffers)
            && readable >= 2 && writable >= 1
        if !wellFormed { _ = h.awaitNeedsReset() }
        if h.needsReset {
            invariant(!wellFormed || malformedReceive, "a well-formed control command was refused")
            h.checkMemory(except: wellFormed ? nil : chain)
            return true
        }
        invariant(wellFormed, "a malformed control command was answered")
        guard case .used(let length) = outcome else { fuzzFailure("control command never completed: \(outcome)") }
        invariant(length == 1, "control used length \(length)")
        let answer = h.writableBytes(chain)
        invariant(answer[0] <= 1, "ack \(answer[0])")
        invariant(answer.dropFirst().allSatisfy { $0 == 0xa5 }, "control command wrote past its ack byte")
        h.checkMemory()
        return false
    }

    /// A frame from the network: a vnet header (often clean) and an Ethernet frame, addressed
    /// to the device, to broadcast or anywhere.
    static func frame(_ input: inout FuzzInput, mac: [UInt8]) -> [UInt8] {
        let kind = input.u8()
        var header = [UInt8](repeating: 0, count: 12)
        if kind & 0x80 != 0 {
            let raw = input.take(12)
            header = raw + [UInt8](repeating: 0, count: 12 - raw.count)
        }
        let destination: [UInt8] = switch kind % 3 {
        case 0: mac
        case 1: [UInt8](repeating: 0xff, count: 6)
        default: input.take(6)
        }
        let body = input.take(Int(input.u16() % 1600))
        return header + destination + [0x02, 0, 0, 0, 0, 1, 0x08, 0x00] + body
    }

    /// Every frame the guest got is one that arrived (dropped ones are skipped), in order,
    /// spread over as many chains as its header says.
    static func checkReceived(_ chains: [PostedChain], injected: inout [[UInt8]], _ h: DeviceQueueHarness) {
        var next = 0
        var i = 0
        defer { injected.removeFirst(next) }
        while i < chains.count {
            guard let length = chains[i].usedLength, length > 0 else { i += 1; continue }   // released empty at reset
            let first = Array(h.writableBytes(chains[i]).prefix(Int(length)))
            invariant(first.count >= 12, "received frame shorter than its header")
            let buffers = Int(first[10]) | Int(first[11]) << 8
            invariant(buffers >= 1 && i + buffers <= chains.count, "num_buffers \(buffers) with \(chains.count - i) chains returned")
            invariant(first[0] & ~3 == 0, "received header flags 0x\(String(first[0], radix: 16))")
            var payload = Array(first.dropFirst(12))
            for c in chains[i + 1..<i + buffers] {
                payload += h.writableBytes(c).prefix(Int(c.usedLength ?? 0))
            }
            while next < injected.count && Array(injected[next].dropFirst(12)) != payload { next += 1 }
            invariant(next < injected.count, "the guest received a \(payload.count)-byte frame that never arrived (or out of order)")
            next += 1
            i += buffers
        }
    }
}
