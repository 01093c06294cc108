import DeviceModel
import Display
import FuzzDeviceSupport
import FuzzSupport
import Virtio
import VirtioDevices

/// virtio-input (virtio 1.2 §5.8) on the real device, a keyboard: each input either posts an
/// eventq chain (raw descriptors, or one writable buffer) after queueing a few key reports from
/// the host side, or a statusq chain (raw, or LED records built from their fields).
///
/// Invariants beyond "no crash" (besides the harness's): an eventq chain is refused exactly
/// when it has a readable buffer, a buffer outside RAM, or fewer than 8 writable bytes, and a
/// statusq chain exactly when it has a writable buffer, a buffer outside RAM, or a readable
/// length that is not a non-zero multiple of 8; a served eventq chain holds one 8-byte
/// event of a type the keyboard sends (EV_SYN or EV_KEY); a served statusq chain writes
/// nothing; the LEDs only ever hold NUML, CAPSL and SCROLLL.
@main
struct VirtioInputFuzz {
    static func main() {
        guard let device = try? VirtioInputDevice(configuration: VirtioInputConfiguration(kind: .keyboard)) else {
            fuzzFailure("cannot create the device")
        }
        let h = DeviceQueueHarness(device: device, features: device.offeredFeatures & ~VirtioFeature.eventIndex, queues: [0, 1])
        FuzzDriver.run { data in
            var input = FuzzInput(data)
            let mode = input.u8()
            let queue = Int(mode & 1)
            let buffers: [FuzzBuffer]
            if mode & 6 == 0 {
                buffers = FuzzBuffer.decode(&input, maxBuffers: 4, maxLength: 64)
            } else if queue == 0 {
                buffers = [.writable(input.u8() < 220 ? 8 : Int(input.u8() % 16))]
            } else {
                var records: [UInt8] = []
                for _ in 0..<Int(input.u8() % 3) + 1 {
                    let type: UInt16 = input.u8() < 200 ? 0x11 : input.u16()   // EV_LED, or anything
                    let code = UInt16(input.u8() % 20)
                    let value = UInt32(input.u8() & 1)
                    records += [UInt8(type & 0xff), UInt8(type >> 8), UInt8(code & 0xff), UInt8(code >> 8),
                                UInt8(value), 0, 0, 0]
                }
                let cut = input.u8()
                buffers = [.readable(cut >= 240 ? Array(records.prefix(Int(cut - 240))) : records)]
            }
            if queue == 0 {
                // Something for the chain to carry: a few key reports from "the VNC client".
                // Mostly keys the keyboard advertises (1-83), sometimes none or any code.
                let count = input.u8()
                for _ in 0..<(count < 16 ? 0 : Int(count % 3) + 1) {
                    let c = input.u8()
                    device.receive([.key(code: c < 200 ? UInt16(c % 83) + 1 : UInt16(c), pressed: input.u8() & 1 == 0)])
                }
            }
            // The eventq takes a chain only when it has an event for it.
            let looked = queue == 1 || device.backlogCount > 0
            guard let chain = h.post(buffers, on: queue) else { return }
            let outcome = h.wait(for: chain, timeoutMs: looked ? 1000 : 50)
            defer { h.finish() }
            let readable = buffers.filter { !$0.writable }.reduce(0) { $0 + $1.length }
            let writable = buffers.filter(\.writable).reduce(0) { $0 + $1.length }
            var malformed = buffers.contains(where: \.outsideRAM) || DeviceQueueHarness.readableAfterWritable(buffers)
            if queue == 0 { malformed = looked && (malformed || readable > 0 || writable < 8) }
            else { malformed = malformed || writable > 0 || readable == 0 || readable % 8 != 0 }
            if !looked { invariant(outcome == .timedOut, "an event chain was taken with no event waiting: \(outcome)") }
            if malformed { _ = h.awaitNeedsReset(timeoutMs: 200) }
            if h.needsReset {
                invariant(malformed, "a well-formed chain was refused (\(h.resetReason)): \(buffers.map { ($0.length, $0.writable) })")
                h.checkMemory(except: chain)
                return
            }
            invariant(!malformed, "a malformed chain was served: \(buffers.map { ($0.length, $0.writable, $0.outsideRAM) })")
            invariant(device.ledState.rawValue & ~0x7 == 0, "LED state \(device.ledState)")
            guard case .used(let length) = outcome else {
                // An eventq chain waits for an event; nothing else may stay unanswered.
                invariant(queue == 0 && outcome == .timedOut, "chain never completed: \(outcome)")
                return
            }
            h.checkMemory()
            if queue == 1 {
                invariant(length == 0, "a status chain got \(length) bytes written")
                return
            }
            invariant(length == 8, "an event chain got \(length) bytes")
            let event = h.writableBytes(chain)
            let type = UInt16(event[0]) | UInt16(event[1]) << 8
            invariant(type == 0 || type == 1, "the keyboard sent event type \(type)")
        }
    }
}
