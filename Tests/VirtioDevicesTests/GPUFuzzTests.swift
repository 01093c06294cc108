import DeviceModel
import DeviceModelTesting
import Display
import Testing
import Virtio
@testable import VirtioDevices
import VirtioTesting

/// Random command bytes in many chains: the device answers every control chain with a
/// known response type, stays within its host memory limit, never needs a reset (every
/// chain has room for a header) and still works afterwards.
@Suite("virtio-gpu fuzz")
struct GPUFuzzTests {
    /// SplitMix64: reproducible from the printed seed.
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
        mutating func u32() -> UInt32 { UInt32(truncatingIfNeeded: next()) }
        mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) } }
        /// Mostly small values, sometimes anything.
        mutating func field(small: Int) -> UInt32 { below(8) == 0 ? u32() : UInt32(below(small + 1)) }
    }

    /// A rectangle, mostly inside the resources the fuzzer makes.
    func rect(_ rng: inout Random) -> [UInt32] {
        [rng.field(small: 16), rng.field(small: 16), rng.field(small: 64), rng.field(small: 64)]
    }

    static let responses: Set<UInt32> = [0x1100, 0x1101, 0x1104, 0x1200, 0x1201, 0x1202, 0x1203, 0x1205]

    @Test("random control and cursor commands: always a valid answer, memory bounded, no crash",
          arguments: GPUTestbed.kinds)
    func randomCommands(kind: DeviceOnTransport<VirtioGPUDevice>.Kind) throws {
        let limit = 4 << 20
        let bed = try GPUTestbed(kind, configuration: .init(scanouts: [(64, 64), (128, 96)], maxHostMemory: limit))
        let seed = UInt64(truncatingIfNeeded: ContinuousClock.now.hashValue) | 1
        print("GPU fuzz seed \(seed) on \(kind)")
        var rng = Random(state: seed)
        let ram = DeviceOnTransport<VirtioGPUDevice>.ramSize
        // Weighted so that resources live long enough to be backed, shown, transferred and flushed.
        let types: [UInt32] = [0x100, 0x101, 0x101, 0x101, 0x102, 0x103, 0x103, 0x104, 0x104, 0x105, 0x105, 0x105,
                               0x106, 0x106, 0x106, 0x107, 0x10A]
        let sizes: [UInt32: Int] = [0x100: 24, 0x101: 40, 0x102: 32, 0x103: 48, 0x104: 48, 0x105: 56, 0x106: 32, 0x107: 32, 0x10A: 32]
        let clock = ContinuousClock()
        let start = clock.now
        var answered = 0, ok = 0
        var okTypes: [UInt32: Int] = [:]
        for _ in 0..<400 {
            var pending: [UInt32] = []
            for _ in 0..<8 {
                var request: [UInt8]
                if rng.below(4) == 0 {
                    request = rng.bytes(rng.below(100))
                } else {
                    let type = types[rng.below(types.count)]
                    let flags: UInt32 = rng.below(3) == 0 ? 1 : UInt32(rng.below(4))
                    request = GPUCommand.header(type, flags: flags, fence: rng.next(), context: rng.u32())
                    // Fields: ids, formats, rectangles, offsets, counts — mostly plausible.
                    var fields: [UInt32] = []
                    switch type {
                    case 0x101: fields = [rng.field(small: 6), [1, 2, 3, 4, 67, 68, 121, 134, 5][rng.below(9)],
                                          rng.field(small: 300), rng.field(small: 300)]
                    case 0x106:
                        let n = rng.field(small: 4)
                        fields = [rng.field(small: 6), n]
                        var entries: [UInt8] = []
                        for _ in 0..<min(Int(n), 6) {
                            let address = rng.below(4) == 0 ? rng.next() : UInt64(rng.below(Int(ram)))
                            let length = rng.below(4) == 0 ? rng.u32() : UInt32(rng.below(400_000))
                            entries += GPUCommand.le64(address) + GPUCommand.le(length) + GPUCommand.le(0)
                        }
                        request += fields.flatMap(GPUCommand.le) + entries
                        fields = []
                    case 0x103: fields = rect(&rng) + [rng.field(small: 2), rng.field(small: 6)]
                    case 0x104: fields = rect(&rng) + [rng.field(small: 6), 0]
                    case 0x105: fields = rect(&rng) + [rng.field(small: 4096), rng.below(8) == 0 ? rng.u32() : 0, rng.field(small: 6), 0]
                    case 0x102, 0x107: fields = [rng.field(small: 6), 0]
                    case 0x10A: fields = [rng.field(small: 2), 0]
                    default: fields = []
                    }
                    request += fields.flatMap(GPUCommand.le)
                    if let size = sizes[type], type != 0x106 {
                        // Usually exactly the struct, sometimes cut short or padded.
                        let cut = rng.below(6) == 0 ? rng.below(size + 1) : (rng.below(6) == 0 ? size + rng.below(16) : size)
                        request = Array(request.prefix(cut))
                    }
                }
                let room = [24, 24, 408, 1056, 30, 100][rng.below(6)]
                let split = request.count > 2 && rng.below(4) == 0
                let readable = split ? [Array(request[..<(request.count / 2)]), Array(request[(request.count / 2)...])] : [request]
                try bed.control.submit(readable: readable.filter { !$0.isEmpty }.isEmpty ? [[0]] : readable.filter { !$0.isEmpty },
                                       writable: [room])
                pending.append(request.count >= 4 ? GPUTestResponse(length: 4, bytes: request).type : 0)
            }
            if rng.below(3) == 0 {
                var cursor = GPUCommand.cursor([0x300, 0x301, 0x302][rng.below(3)], scanout: rng.field(small: 2),
                                               x: Int32(truncatingIfNeeded: rng.u32()), y: Int32(rng.below(100)),
                                               id: rng.field(small: 6), hotX: rng.u32(), hotY: rng.field(small: 64))
                if rng.below(4) == 0 { cursor = Array(cursor.prefix(rng.below(56))) }
                try bed.cursor.submit(readable: [cursor.isEmpty ? [0] : cursor])
                try bed.driver.kick(bed.cursor)
                _ = try bed.driver.waitForUsed(bed.cursor)
            }
            try bed.driver.kick(bed.control)
            let used = try bed.driver.waitForUsed(bed.control, count: pending.count)
            for (i, u) in used.enumerated() {
                let r = GPUTestResponse(length: Int(u.length), bytes: u.written)
                #expect(Self.responses.contains(r.type), "response type 0x\(String(r.type, radix: 16))")
                #expect(r.length >= 24)
                if r.type == 0x1100 || r.type == 0x1101 || r.type == 0x1104 {
                    ok += 1
                    okTypes[pending[i], default: 0] += 1
                }
                answered += 1
            }
            #expect(bed.device.hostMemoryInUse < limit)
            #expect(bed.fixture.needsResetReason == nil)
        }
        print("BENCH: virtio-gpu fuzz on \(kind): \(answered) control commands (\(ok) OK: \(okTypes.sorted { $0.key < $1.key }.map { "0x\(String($0.key, radix: 16)):\($0.value)" }.joined(separator: " "))) in \(clock.now - start)")
        #expect(answered == 3200)
        let info = try bed.send(GPUCommand.displayInfo(), responseSize: 408)
        #expect(info.type == 0x1101)
        try bed.driver.reset()
        #expect(bed.device.resourceCount == 0 && bed.device.hostMemoryInUse == 0)
    }
}
