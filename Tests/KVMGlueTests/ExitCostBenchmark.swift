import DeviceModel
import Foundation
import KVMGlue
import SwiftdmTestSupport
import Testing

/// Exit cost per port-I/O, MMIO and ioeventfd access: Tests/Guests/bench.asm under KVMGlue, next to
/// the same guest under the minimal C loop Tests/Guests/kvm-loop.c, alternating three times and
/// keeping each phase's best time (the build machines are shared). Prints numbers; asserts only
/// that every run completed every phase (no timing assertions).
@Suite(.enabled(if: HostRequirements.guests, "needs /dev/kvm and nasm (see the SKIP line)"), .serialized)
struct ExitCostBenchmark {
    static let accessesPerPhase = 20_000
    static let roundsPerPhase = 2_500
    static let repetitions = 3

    /// Phase durations in ns under KVMGlue, keyed by phase number.
    func runUnderKVMGlue(_ image: [UInt8]) throws -> [UInt64: UInt64] {
        let m = try TestMachine()
        let registrar = KVMIOEventRegistrar(vm: m.vm)
        let notify = try EventNotifier()
        try registrar.register(IOEventMatch(space: .port, address: TestMachine.notifyPort, size: 2, datamatch: 1), notifier: notify)
        try m.loadFirmware(image)
        let result = try m.run()
        #expect(result == .stopped(.guestExit(status: 0)), "\(result)")
        #expect(notify.drain() == UInt64(Self.accessesPerPhase))
        var ns: [UInt64: UInt64] = [:]
        for phase: UInt64 in 1...4 { ns[phase] = m.marker.duration(ofPhase: phase) }
        #expect(ns.count == 4, "incomplete phases: \(ns)")
        return ns
    }

    /// Phase durations in ns under the C loop.
    func runUnderCLoop(_ loop: String, image: String) throws -> [UInt64: UInt64] {
        let output = try Toolchain.run(loop, [image])
        var ns: [UInt64: UInt64] = [:]
        for line in output.split(separator: "\n") where line.hasPrefix("phase ") {
            let parts = line.split(separator: " ")
            if parts.count == 4, let p = UInt64(parts[1].dropLast()), let t = UInt64(parts[2]) { ns[p] = t }
        }
        #expect(ns.count == 4, "C loop output: \(output)")
        return ns
    }

    @Test func exitCostPerAccess() throws {
        let image = try GuestImages.image("bench")
        let imagePath = GuestImages.buildDirectory.appendingPathComponent("bench.bin").path
        var loop: String?
        if HostRequirements.gcc {
            let path = GuestImages.buildDirectory.appendingPathComponent("kvm-loop").path
            try Toolchain.run("gcc", ["-O2", "-Wall", "-o", path, GuestImages.sourceDirectory.appendingPathComponent("kvm-loop.c").path])
            loop = path
        }
        var best: (swift: [UInt64: UInt64], c: [UInt64: UInt64]) = ([:], [:])
        func keepMin(_ d: inout [UInt64: UInt64], _ new: [UInt64: UInt64]) {
            for (k, v) in new { d[k] = min(d[k] ?? .max, v) }
        }
        for _ in 0..<Self.repetitions {
            keepMin(&best.swift, try runUnderKVMGlue(image))
            if let loop { keepMin(&best.c, try runUnderCLoop(loop, image: imagePath)) }
        }

        func us(_ ns: UInt64?, per n: Int) -> String {
            guard let ns else { return "n/a" }
            return String(format: "%6.2f µs", Double(ns) / 1000 / Double(n))
        }
        let host = KVMSystem.isPVMHost ? "PVM host, guest instructions emulated" : "hardware virtualization"
        print("BENCH: exit cost on this machine (\(host)); best of \(Self.repetitions), \(Self.accessesPerPhase) accesses per phase")
        print("BENCH:   loop round (dec+jnz)    swiftdm \(us(best.swift[1], per: Self.roundsPerPhase))   C loop \(us(best.c[1], per: Self.roundsPerPhase))")
        let rows: [(UInt64, String)] = [(2, "PIO write exit     "), (3, "MMIO write exit    "), (4, "ioeventfd PIO write")]
        for (phase, name) in rows {
            print("BENCH:   \(name)     swiftdm \(us(best.swift[phase], per: Self.accessesPerPhase))   C loop \(us(best.c[phase], per: Self.accessesPerPhase))")
        }
    }
}
