import DeviceModel
import Display
import FuzzDeviceSupport
import FuzzSupport
import Virtio
import VirtioDevices

/// virtio-gpu 2D (virtio 1.2 §5.7) on the real device: one chain per input on the control or
/// cursor queue, either raw descriptors or a command built from its fields (resource IDs,
/// formats, sizes, rectangles, offsets and scatter entries drawn from small sets so that
/// commands meet each other's resources, with the occasional wild value).
///
/// Invariants beyond "no crash" (besides the harness's: no write outside the chain's writable
/// buffers, used length within them, a refused chain untouched): a control chain is refused
/// (NEEDS_RESET) exactly when it has fewer than 24 writable bytes, a buffer outside RAM, or a
/// readable buffer after a writable one; every other control chain is answered with a known
/// response type, echoing the fence of a fenced command; a cursor chain returns with nothing
/// written; the guest's resources and screens never exceed the host memory limit.
@main
struct VirtioGPUFuzz {
    /// Small, so that the limit itself is reached.
    static let maxHostMemory = 256 << 10
    static let responseTypes: Set<UInt32> = [0x1100, 0x1101, 0x1104, 0x1200, 0x1201, 0x1202, 0x1203, 0x1204, 0x1205]

    static func main() {
        let display = GuestDisplay(scanouts: 2)
        let configuration = VirtioGPUConfiguration(scanouts: [(64, 48), (32, 32)], maxHostMemory: maxHostMemory)
        guard let device = try? VirtioGPUDevice(configuration: configuration, display: display) else {
            fuzzFailure("cannot create the device")
        }
        let h = DeviceQueueHarness(device: device, features: device.offeredFeatures & ~VirtioFeature.eventIndex, queues: [0, 1])
        FuzzDriver.run { data in
            var input = FuzzInput(data)
            let mode = input.u8()
            let queue = Int(mode & 1)
            let buffers: [FuzzBuffer]
            if mode & 6 == 0 {
                buffers = FuzzBuffer.decode(&input, maxBuffers: 4, maxLength: 1024)
            } else {
                let command = queue == 0 ? control(&input) : cursor(&input)
                let room = input.u8()
                buffers = [.readable(command)] + (queue == 0 ? [.writable(room < 200 ? 24 + 24 * 16 : Int(room % 64))] : [])
            }
            guard let chain = h.post(buffers, on: queue) else { return }
            let outcome = h.wait(for: chain)
            defer { h.finish() }
            let writable = buffers.filter(\.writable).reduce(0) { $0 + $1.length }
            let malformed = buffers.contains(where: \.outsideRAM) || DeviceQueueHarness.readableAfterWritable(buffers)
                || (queue == 0 && writable < 24)
            if malformed { _ = h.awaitNeedsReset() }
            if h.needsReset {
                invariant(malformed, "a well-formed chain was refused (\(h.resetReason)): \(buffers.map { ($0.length, $0.writable) })")
                h.checkMemory(except: chain)
                return
            }
            invariant(!malformed, "a malformed chain was served: \(buffers.map { ($0.length, $0.writable, $0.outsideRAM) })")
            guard case .used(let length) = outcome else { fuzzFailure("chain never completed: \(outcome)") }
            h.checkMemory()
            invariant(device.hostMemoryInUse <= maxHostMemory, "host memory \(device.hostMemoryInUse) over the limit \(maxHostMemory)")
            guard queue == 0 else {
                invariant(length == 0, "a cursor command wrote \(length) bytes")
                return
            }
            invariant(length >= 24, "a control response of \(length) bytes")
            let response = h.writableBytes(chain)
            let type = le32(response, 0)
            invariant(responseTypes.contains(type), "response type 0x\(String(type, radix: 16))")
            let request = chain.readable.flatMap { h.bytes($0) }
            if request.count >= 24, le32(request, 4) & 1 != 0 {
                invariant(le32(response, 4) & 1 != 0 && response[8..<16] == request[8..<16], "a fenced command's fence was not echoed")
            }
        }
    }

    static func le32(_ b: [UInt8], _ at: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[at + $1]) << (8 * UInt32($1)) }
    }

    static func put(_ v: UInt64, _ size: Int, into out: inout [UInt8]) {
        for i in 0..<size { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }

    /// A value from a small set most of the time, any value sometimes.
    static func small(_ input: inout FuzzInput, _ limit: UInt8) -> UInt64 {
        let b = input.u8()
        return b < 240 ? UInt64(b % limit) : UInt64(input.u32())
    }

    static func header(_ type: UInt32, _ input: inout FuzzInput) -> [UInt8] {
        var out: [UInt8] = []
        put(UInt64(type), 4, into: &out)
        put(UInt64(input.u8() & 1), 4, into: &out)   // flags: the fence bit
        put(input.u64(), 8, into: &out)              // fence_id
        put(0, 8, into: &out)                        // ctx_id, ring_idx, padding
        return out
    }

    static func rect(_ input: inout FuzzInput, into out: inout [UInt8]) {
        for _ in 0..<4 { put(small(&input, 80), 4, into: &out) }
    }

    static func control(_ input: inout FuzzInput) -> [UInt8] {
        let types: [UInt32] = [0x0100, 0x0101, 0x0102, 0x0103, 0x0104, 0x0105, 0x0106, 0x0107, 0x010A, 0x0108, 0xffff]
        let type = types[Int(input.u8()) % types.count]
        var out = header(type, &input)
        let resource = small(&input, 4)
        switch type {
        case 0x0101:  // RESOURCE_CREATE_2D: id, format, width, height
            let formats: [UInt64] = [1, 2, 3, 4, 67, 68, 121, 134, 0, 99]
            put(resource, 4, into: &out)
            put(formats[Int(input.u8()) % formats.count], 4, into: &out)
            put(small(&input, 80), 4, into: &out)
            put(small(&input, 80), 4, into: &out)
        case 0x0102, 0x0107:  // UNREF, DETACH_BACKING: id, padding
            put(resource, 4, into: &out)
            put(0, 4, into: &out)
        case 0x0103:  // SET_SCANOUT: rect, scanout id, resource id
            rect(&input, into: &out)
            put(small(&input, 3), 4, into: &out)
            put(resource, 4, into: &out)
        case 0x0104:  // RESOURCE_FLUSH: rect, id, padding
            rect(&input, into: &out)
            put(resource, 4, into: &out)
            put(0, 4, into: &out)
        case 0x0105:  // TRANSFER_TO_HOST_2D: rect, offset, id, padding
            rect(&input, into: &out)
            put(input.u8() < 200 ? small(&input, 64) * 4 : input.u64(), 8, into: &out)
            put(resource, 4, into: &out)
            put(0, 4, into: &out)
        case 0x0106:  // ATTACH_BACKING: id, nr_entries, entries (addr, length, padding)
            let count = input.u8() < 240 ? Int(input.u8() % 4) : Int(input.u32())
            put(resource, 4, into: &out)
            put(UInt64(UInt32(truncatingIfNeeded: count)), 4, into: &out)
            for _ in 0..<min(count, 8) {
                let a = input.u8()
                let address = a < 200 ? DeviceQueueHarness.dataBase + UInt64(input.u16()) : input.u64()
                put(address, 8, into: &out)
                put(small(&input, 255) * 64, 4, into: &out)
                put(0, 4, into: &out)
            }
        case 0x010A:  // GET_EDID: scanout, padding
            put(small(&input, 3), 4, into: &out)
            put(0, 4, into: &out)
        default:
            break
        }
        // Sometimes cut short or padded with noise.
        let cut = input.u8()
        if cut >= 224 { out = Array(out.prefix(Int(cut - 224))) } else if cut >= 200 { out += input.take(Int(cut - 200)) }
        return out
    }

    static func cursor(_ input: inout FuzzInput) -> [UInt8] {
        var out = header(input.u8() & 1 == 0 ? 0x0300 : 0x0301, &input)
        put(small(&input, 3), 4, into: &out)        // position: scanout id
        put(small(&input, 80), 4, into: &out)       // x
        put(small(&input, 80), 4, into: &out)       // y
        put(0, 4, into: &out)
        put(small(&input, 4), 4, into: &out)        // resource id
        put(small(&input, 64), 4, into: &out)       // hot_x
        put(small(&input, 64), 4, into: &out)       // hot_y
        put(0, 4, into: &out)
        let cut = input.u8()
        if cut >= 224 { out = Array(out.prefix(Int(cut - 224))) }
        return out
    }
}
