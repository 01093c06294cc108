import DeviceModel
import DeviceModelTesting
import Dispatch
import Testing

/// A deterministic pseudo-random source (SplitMix64), so a failing seed can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random register traffic from two vCPUs at once: every transport must stay consistent —
/// no crash, no hang, no access outside guest RAM — and work normally after a reset.
@Suite struct TransportRegisterFuzzTests {
    /// The guest-visible register windows of the fixture's transport.
    private func windows(_ f: TransportFixture) throws -> [(IOSpace, UInt64, UInt64)] {
        if let mmio = f.mmio { return [(.memory, TransportFixture.mmioBase, mmio.regionLength)] }
        let t = try #require(f.driver.transport as? VirtioPCITestTransport)
        let msix = try #require(t.msix)
        return t.bars.sorted { $0.key < $1.key }.map { bar, b in
            // Leave the MSI-X table alone: random messages would only test the recorder.
            (b.space, b.address, bar == msix.tableBAR ? msix.tableOffset : b.size)
        }
    }

    @Test(arguments: TransportFixture.Kind.allCases)
    func randomRegisterTrafficThenNormalOperation(kind: TransportFixture.Kind) throws {
        let f = try TransportFixture(kind)
        // Start from a live device so the traffic also hits activation, queues and resets.
        let q = try f.driver.start(features: f.allFeatures, queues: [0, 1])[0]
        try q.submit(readable: [[1]], writable: [1])
        try f.driver.kick(q)
        let windows = try windows(f)
        let dispatcher = f.machine.dispatcher
        // FNV-1a of the kind's name: a stable seed per transport (hashValue is per-process).
        let seed = kind.rawValue.utf8.reduce(UInt64(0xCBF2_9CE4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
        DispatchQueue.concurrentPerform(iterations: 2) { vcpu in
            var rng = SplitMix64(state: seed &+ UInt64(vcpu))
            for _ in 0..<4000 {
                let (space, base, length) = windows[Int(rng.next() % UInt64(windows.count))]
                let size = [1, 2, 4, 8][Int(rng.next() % 4)]
                let offset = rng.next() % length
                // Small values matter most (status bits, selectors, queue indices).
                let value = rng.next() % 4 == 0 ? rng.next() : rng.next() % 32
                var request = rng.next() % 3 == 0
                    ? IORequest.read(space, base + offset, size: size)
                    : IORequest.write(space, base + offset, size: size, value: value)
                try? dispatcher.dispatch(&request)
            }
        }
        // Whatever state that left, a reset brings back a working device.
        let queues = try f.driver.start(features: f.allFeatures, queues: [0])
        try queues[0].submit(readable: [[0xAB, 0xCD]], writable: [2])
        try f.driver.kick(queues[0])
        #expect(try f.driver.waitForUsed(queues[0])[0].written == [0xAB, 0xCD])
        #expect(f.needsResetReason == nil)
    }

    @Test(arguments: [TransportFixture.Kind.mmio, .pci])
    func resetsRacingWithCompletions(kind: TransportFixture.Kind) throws {
        let f = try TransportFixture(kind)
        for round in 0..<30 {
            let q = try f.driver.start(features: f.allFeatures, queues: [0])[0]
            for i in 0..<8 { try q.submit(readable: [[UInt8(i), UInt8(round)]], writable: [2]) }
            try f.driver.kick(q)
            // Reset while the device thread is completing and interrupting.
            try f.driver.reset()
            #expect(f.driver.status == 0)
        }
        let q = try f.driver.start(features: f.allFeatures, queues: [0])[0]
        try q.submit(readable: [[5]], writable: [1])
        try f.driver.kick(q)
        #expect(try f.driver.waitForUsed(q)[0].written == [5])
        #expect(f.device.activations == 31)
    }
}
