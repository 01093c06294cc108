import DeviceModel
import FuzzDeviceSupport
import FuzzSupport
import HostIO
import Virtio
import VirtioDevices
#if canImport(Glibc)
import Glibc
#endif

/// virtio-console with multiport (virtio 1.2 §5.3.6) on the real device and its I/O thread,
/// its port on a socket pair whose other end the target holds: per input, a sequence of
/// control messages from the driver, control and receive buffers, output chains and input
/// arriving from the host side.
///
/// Invariants beyond "no crash" (besides the harness's: no write outside writable buffers,
/// used length within them, a refused chain untouched): an output or control-output chain is
/// refused exactly when it has writable buffers or a buffer outside RAM, and otherwise
/// completes with used length 0 — output reaching the host side byte for byte, in order; every
/// control message the device sends is about port 0 and one it may send (DEVICE_ADD,
/// CONSOLE_PORT, RESIZE, PORT_OPEN, PORT_NAME), cut to the buffer; the guest receives host
/// input in order, never more than arrived, and only while it has the port open.
@main
struct VirtioConsoleFuzz {
    static let rx = 0, tx = 1, controlRx = 2, controlTx = 3

    static func main() {
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0 else { fuzzFailure("socketpair") }
        let host = pair[1]
        let deviceEnd = pair[0]
        _ = fcntl(host, F_SETFL, fcntl(host, F_GETFL) | O_NONBLOCK)
        let backend = FileDescriptorConsoleBackend(input: pair[0], output: pair[0])
        guard let device = try? VirtioConsoleDevice(configuration: VirtioConsoleConfiguration(
            backend: backend, multiport: true, size: ConsoleSize(columns: 80, rows: 25), portName: "fuzz", queueSize: 64)) else {
            fuzzFailure("cannot create the device")
        }
        let h = DeviceQueueHarness(device: device, features: device.offeredFeatures & ~VirtioFeature.eventIndex,
                                   queues: [rx, tx, controlRx, controlTx])
        // Host input written and not yet seen by the guest (it stays in the socket across inputs).
        var undelivered: [UInt8] = []
        var guestOpen = false
        var generation = h.generation
        FuzzDriver.run { data in
            if h.generation != generation {
                generation = h.generation
                guestOpen = false
                // Output the failed activation wrote for chains it never returned (or returned
                // after another chain failed it) is not this activation's.
                var sink = [UInt8](repeating: 0, count: 4096)
                while sink.withUnsafeMutableBytes({ recv(host, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }) > 0 {}
            }
            var input = FuzzInput(data)
            // Whether the port was open at any point of this input (input may arrive then).
            var wasOpen = guestOpen
            var explained = false
            var malformedReceive = false
            for _ in 0..<8 where !input.isExhausted && !h.needsReset {
                switch input.u8() % 6 {
                case 0:
                    let message: [FuzzBuffer]
                    if input.u8() & 0xf0 == 0xf0 {
                        message = FuzzBuffer.decode(&input, maxBuffers: 3, maxLength: 64)
                    } else {
                        let id = input.u8() < 224 ? 0 : input.u32()
                        let event = UInt16(input.u8() % 9)
                        let value = UInt16(input.u8() % 3)
                        var bytes: [UInt8] = []
                        withUnsafeBytes(of: id.littleEndian) { bytes += $0 }
                        withUnsafeBytes(of: event.littleEndian) { bytes += $0 }
                        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
                        bytes += input.take(Int(input.u8() % 16))
                        // Now and then a short message, which the device must ignore.
                        if input.u8() % 16 == 0 { bytes = Array(bytes.prefix(Int(input.u8() % 8))) }
                        message = [.readable(bytes)]
                    }
                    let (refused, chain) = output(message, on: controlTx, h, host: host, malformedReceive: malformedReceive)
                    explained = refused
                    // A message the device took was handled, even if a malformed receive
                    // buffer made it fail right after.
                    if let chain, chain.usedLength != nil, !message.contains(where: { $0.outsideRAM || ($0.writable && $0.length > 0) }),
                       !DeviceQueueHarness.readableAfterWritable(message) {
                        // PORT_OPEN for port 0 opens or closes it for input.
                        let bytes = chain.readable.flatMap { h.bytes($0) }
                        if bytes.count >= 8, bytes[0..<4].allSatisfy({ $0 == 0 }), bytes[4] == 6, bytes[5] == 0 {
                            guestOpen = bytes[6] != 0 || bytes[7] != 0
                            wasOpen = wasOpen || guestOpen
                        }
                    }
                case 1:
                    let buffers = input.u8() & 0xf0 == 0xf0 ? FuzzBuffer.decode(&input, maxBuffers: 3, maxLength: 64)
                                                            : [.writable(Int(input.u8() % 40))]
                    if h.post(buffers, on: controlRx) != nil {
                        malformedReceive = malformedReceive || buffers.contains { $0.outsideRAM || !$0.writable }
                    }
                case 2:
                    let buffers = input.u8() & 0xf0 == 0xf0 ? FuzzBuffer.decode(&input, maxBuffers: 4, maxLength: 2048)
                                                            : [.readable(input.take(Int(input.u16() % 2048)))]
                    explained = output(buffers, on: tx, h, host: host, malformedReceive: malformedReceive).refused
                case 3:
                    let buffers = input.u8() & 0xf0 == 0xf0 ? FuzzBuffer.decode(&input, maxBuffers: 4, maxLength: 2048)
                                                            : [.writable(Int(input.u16() % 2048))]
                    if h.post(buffers, on: rx) != nil {
                        malformedReceive = malformedReceive || buffers.contains { $0.outsideRAM || !$0.writable }
                    }
                case 4:
                    let bytes = input.take(Int(input.u8()))
                    let n = bytes.isEmpty ? 0 : bytes.withUnsafeBytes { send(host, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    if n > 0 { undelivered += bytes[..<n] }
                default:
                    // The host side resizes its terminal.
                    device.resize(ConsoleSize(columns: UInt16(input.u8()), rows: UInt16(input.u8())))
                }
            }
            // Let input reach posted receive buffers of an open port.
            let deadline = ContinuousClock.now.advanced(by: .milliseconds(20))
            var peek: UInt8 = 0
            while !h.needsReset, guestOpen, !(h.posted[rx]?.isEmpty ?? true), ContinuousClock.now < deadline,
                  recv(deviceEnd, &peek, 1, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT)) > 0 {
                usleep(100)
                h.reap()
            }
            // What the guest got (also from chains returned while the device stops).
            func received() {
                // A receive chain with device-readable bytes that the device took must end in
                // NEEDS_RESET. The device returns the chain before it reports the failure, so
                // wait for the report here rather than find it at the start of the next input.
                func failsTheDevice(_ chain: PostedChain) {
                    guard chain.readableLength > 0 else { return }
                    malformedReceive = true
                    invariant(h.awaitNeedsReset(timeoutMs: 10_000),
                              "a receive chain with \(chain.readableLength) device-readable bytes was used without NEEDS_RESET")
                }
                for chain in h.takeReturned(rx) {
                    failsTheDevice(chain)
                    let got = Array(h.writableBytes(chain).prefix(Int(chain.usedLength ?? 0)))
                    invariant(got.count <= undelivered.count && Array(undelivered.prefix(got.count)) == got,
                              "the guest received \(got.count) bytes that are not the next host input")
                    invariant(got.isEmpty || wasOpen, "input delivered to a port the guest has not opened")
                    undelivered.removeFirst(got.count)
                }
                for chain in h.takeReturned(controlRx) {
                    failsTheDevice(chain)
                    let message = Array(h.writableBytes(chain).prefix(Int(chain.usedLength ?? 0)))
                    checkControl(message, writable: chain.writableLength)
                }
            }
            received()
            if h.needsReset { invariant(explained || malformedReceive, "the device failed without a malformed chain: \(h.resetReason)") }
            h.finish(lastReturned: received)
        }
    }

    /// Posts an output chain (port output or control message) and checks its fate: whether
    /// it was (rightly) refused, and the chain.
    static func output(_ buffers: [FuzzBuffer], on queue: Int, _ h: DeviceQueueHarness, host: Int32,
                       malformedReceive: Bool) -> (refused: Bool, chain: PostedChain?) {
        guard let chain = h.post(buffers, on: queue) else { return (false, nil) }
        let outcome = h.wait(for: chain)
        // Only writable bytes make a chain an input chain: a zero-length writable buffer is none.
        let wellFormed = !buffers.contains { $0.outsideRAM || ($0.writable && $0.length > 0) }
            && !DeviceQueueHarness.readableAfterWritable(buffers)
        if !wellFormed { _ = h.awaitNeedsReset() }
        if h.needsReset {
            // A malformed receive buffer posted earlier may be what the device failed on.
            invariant(!wellFormed || malformedReceive, "a well-formed output chain on queue \(queue) was refused")
            h.checkMemory(except: wellFormed ? nil : chain)
            return (true, chain)
        }
        invariant(wellFormed, "a malformed output chain on queue \(queue) was served")
        guard case .used(let length) = outcome else { fuzzFailure("output chain on queue \(queue) never completed: \(outcome)") }
        invariant(length == 0, "output used length \(length)")
        if queue == tx {
            let expected = chain.readable.flatMap { h.bytes($0) }
            var got = [UInt8](repeating: 0, count: expected.count + 1)
            let n = expected.isEmpty ? 0 : got.withUnsafeMutableBytes { recv(host, $0.baseAddress, $0.count, 0) }
            invariant(Array(got.prefix(max(n, 0))) == expected, "the host side got \(n) bytes, not the \(expected.count)-byte output")
        }
        h.checkMemory()
        return (false, chain)
    }

    static func checkControl(_ message: [UInt8], writable: Int) {
        guard !message.isEmpty else { return }
        // Messages are at least 8 bytes, cut only by a smaller buffer.
        invariant(message.count >= min(8, writable), "control message of \(message.count) bytes in a \(writable)-byte buffer")
        guard message.count >= 8 else { return }
        let id = UInt32(message[0]) | UInt32(message[1]) << 8 | UInt32(message[2]) << 16 | UInt32(message[3]) << 24
        let event = UInt16(message[4]) | UInt16(message[5]) << 8
        invariant(id == 0, "control message about port \(id)")
        invariant([1, 4, 5, 6, 7].contains(event), "control event \(event) from the device")
    }
}
