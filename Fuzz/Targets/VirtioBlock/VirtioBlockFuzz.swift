import DeviceModel
import FuzzDeviceSupport
import FuzzSupport
import Virtio
import VirtioDevices

/// virtio-blk request parsing (virtio 1.2 §5.2.6) on the real device and its worker threads,
/// over an in-memory image: one request chain per input, built either from the request's
/// fields (type, sector, header split, data buffers, status byte) or from raw descriptors.
///
/// Invariants beyond "no crash" (besides the harness's: no write outside the chain's writable
/// buffers, used length within them, a refused chain untouched): a chain is refused
/// (NEEDS_RESET) exactly when it has no 16-byte header or no status byte, or a buffer outside
/// RAM or readable after writable; every other request completes with the whole writable part
/// as its used length and a status of OK, IOERR or UNSUPP; reads return the image and leave
/// it alone; a write changes the image exactly in its range, only with OK, never on a
/// read-only disk; discard and write-zeroes only zero bytes; failed requests change nothing
/// and return zeroed data.
@main
struct VirtioBlockFuzz {
    static let sectors = 64
    static let serial = Array("fuzz-blk-serial".utf8)

    static func main() {
        var harnesses: [(DeviceQueueHarness, MemoryDisk)] = []
        for readOnly in [false, true] {
            let disk = MemoryDisk(sectors: sectors, readOnly: readOnly)
            guard let device = try? VirtioBlockDevice(
                configuration: VirtioBlockConfiguration(path: "memory", readOnly: readOnly, serial: String(decoding: serial, as: UTF8.self)),
                backend: disk) else { fuzzFailure("cannot create the device") }
            var features = device.offeredFeatures & ~VirtioFeature.eventIndex
            if readOnly { features &= ~VirtioBlockFeature.flush }
            harnesses.append((DeviceQueueHarness(device: device, features: features, queues: [0]), disk))
        }
        FuzzDriver.run { data in
            var input = FuzzInput(data)
            let mode = input.u8()
            let (h, disk) = harnesses[Int(mode & 1)]
            let buffers = mode & 6 == 0 ? FuzzBuffer.decode(&input, maxBuffers: 6, maxLength: 2048) : request(&input)
            let before = disk.contents
            guard let chain = h.post(buffers, on: 0) else { return }
            let outcome = h.wait(for: chain)
            defer { h.finish() }
            let malformed = refused(buffers)
            if malformed { _ = h.awaitNeedsReset() }
            if h.needsReset {
                invariant(malformed, "a well-formed request was refused: \(buffers.map { ($0.length, $0.writable) })")
                h.checkMemory(except: chain)
                invariant(disk.contents == before, "a refused request changed the image")
                return
            }
            invariant(!malformed, "a malformed chain was served: \(buffers.map { ($0.length, $0.writable, $0.outsideRAM) })")
            guard case .used(let length) = outcome else { fuzzFailure("request never completed: \(outcome)") }
            h.checkMemory()
            invariant(Int(length) == chain.writableLength, "used length \(length) of \(chain.writableLength) writable bytes")
            check(chain, in: h, disk: disk, before: before, readOnly: mode & 1 != 0)
        }
    }

    /// A request built from its fields.
    static func request(_ input: inout FuzzInput) -> [FuzzBuffer] {
        let types: [UInt32] = [0, 1, 4, 8, 10, 11, 13, 14, 2, 0xffff_ffff]
        let t = input.u8()
        let type = t < 200 ? types[Int(t) % types.count] : input.u32()
        let s = input.u8()
        let sector = s < 128 ? UInt64(s) % UInt64(sectors + 8) : input.u64()
        var header = [UInt8](repeating: 0, count: 16)
        for i in 0..<4 { header[i] = UInt8(truncatingIfNeeded: type >> (8 * UInt32(i))) }
        for i in 0..<8 { header[8 + i] = UInt8(truncatingIfNeeded: sector >> (8 * UInt64(i))) }
        var out: [FuzzBuffer] = []
        switch input.u8() % 4 {
        case 0: let cut = Int(input.u8() % 16); out += [.readable(Array(header[..<cut])), .readable(Array(header[cut...]))]
        case 1: out.append(.readable(Array(header[..<Int(input.u8() % 16)])))   // short: refused
        default: out.append(.readable(header))
        }
        let outbound = [1, 11, 13].contains(type)
        for _ in 0..<Int(input.u8() % 4) {
            let l = input.u8()
            let length = l & 0x80 == 0 ? Int(l % 5) * 512 : Int(input.u16() % 4096)
            if outbound {
                var content = input.take(length)
                content += [UInt8](repeating: 0x5a, count: length - content.count)
                out.append(.readable(content))
            } else {
                out.append(.writable(length))
            }
        }
        switch input.u8() % 8 {
        case 0: break                                   // no status byte: refused
        case 1: out.append(.writable(Int(input.u8() % 4)))
        default: out.append(.writable(1))
        }
        return out
    }

    /// Whether the device must refuse the chain outright.
    static func refused(_ buffers: [FuzzBuffer]) -> Bool {
        if buffers.contains(where: \.outsideRAM) { return true }
        if DeviceQueueHarness.readableAfterWritable(buffers) { return true }
        let readable = buffers.filter { !$0.writable }.reduce(0) { $0 + $1.length }
        let writable = buffers.filter(\.writable).reduce(0) { $0 + $1.length }
        return readable < 16 || writable == 0
    }

    static func check(_ chain: PostedChain, in h: DeviceQueueHarness, disk: MemoryDisk, before: [UInt8], readOnly: Bool) {
        let request = chain.readable.flatMap { h.bytes($0) }
        let type = request[0..<4].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
        let sector = request[8..<16].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        let answer = h.writableBytes(chain)
        let status = answer[answer.count - 1]
        let dataIn = Array(answer.dropLast())
        let dataOut = Array(request.dropFirst(16))
        let after = disk.contents
        let capacity = UInt64(sectors * 512)
        func range(_ length: Int) -> Range<Int>? {
            guard length % 512 == 0 else { return nil }
            let (start, o1) = sector.multipliedReportingOverflow(by: 512)
            let (end, o2) = start.addingReportingOverflow(UInt64(length))
            guard !o1, !o2, end <= capacity else { return nil }
            return Int(start)..<Int(end)
        }
        invariant(status <= 2, "status byte \(status)")
        if status != 0 || ![1, 11, 13].contains(type) { invariant(after == before, "type \(type) status \(status) changed the image") }
        if status != 0 { invariant(dataIn.allSatisfy { $0 == 0 }, "a failed request returned data") }
        switch type {
        case 0:
            if let r = range(dataIn.count) {
                invariant(status == 0 && dataIn == Array(before[r]), "read of sector \(sector) did not return the image")
            } else {
                invariant(status == 1, "read outside the image answered \(status)")
            }
        case 1:
            if let r = range(dataOut.count), !readOnly {
                invariant(status == 0, "write of \(dataOut.count) bytes at sector \(sector) answered \(status)")
                invariant(Array(after[r]) == dataOut, "write did not reach the image")
                invariant(after[..<r.lowerBound] == before[..<r.lowerBound] && after[r.upperBound...] == before[r.upperBound...],
                          "write changed the image outside its range")
            } else {
                invariant(status == 1, "write \(readOnly ? "to a read-only disk" : "outside the image") answered \(status)")
            }
        case 4:
            invariant(status == 0, "flush answered \(status)")
        case 8:
            let n = min(dataIn.count, 20)
            let id = Array(serial.prefix(n)) + [UInt8](repeating: 0, count: max(0, n - serial.count))
            invariant(status == 0 && Array(dataIn.prefix(n)) == id, "GET_ID returned \(dataIn.prefix(n))")
        case 11, 13:
            if readOnly { invariant(status == 2, "discard/write-zeroes on a read-only disk answered \(status)") }
            for i in before.indices where before[i] != after[i] { invariant(after[i] == 0, "discard/write-zeroes wrote non-zero data") }
        default:
            invariant(status == 2, "unknown type \(type) answered \(status)")
        }
    }
}
