import DeviceModel
import Foundation
import KVMGlue
import Synchronization

/// The transmit side of a UART at 0x3F8: collects what the guest writes to THR; LSR always
/// reports an empty transmitter.
final class UARTCapture: IOHandler {
    private let bytes = Mutex<[UInt8]>([])

    func read(at offset: UInt64, size: Int) -> UInt64 { offset == 5 ? 0x60 : 0 }

    func write(at offset: UInt64, size: Int, value: UInt64) {
        guard offset == 0 else { return }
        bytes.withLock { $0.append(UInt8(truncatingIfNeeded: value)) }
    }

    var text: String { String(decoding: bytes.withLock { $0 }, as: UTF8.self) }
}

/// Late-bound reference to the runner, for devices that stop the VM.
final class RunnerSlot: Sendable {
    private let runner = Mutex<VCPURunner?>(nil)
    func set(_ r: VCPURunner) { runner.withLock { $0 = r } }
    func stop(_ reason: VMStopReason) { runner.withLock { $0 }?.stop(reason) }
}

/// Port 0x501: a write of N ends the run with `.guestExit(status: N)`.
final class ExitPort: IOHandler {
    let slot: RunnerSlot
    init(slot: RunnerSlot) { self.slot = slot }
    func read(at offset: UInt64, size: Int) -> UInt64 { 0 }
    func write(at offset: UInt64, size: Int, value: UInt64) { slot.stop(.guestExit(status: Int32(truncatingIfNeeded: value & 0xFF))) }
}

/// Port 0x700: every read returns the next 16-bit word of 0x1000, 0x1001, ...
final class PatternPort: IOHandler {
    private let next = Atomic<UInt64>(0x1000)
    let reads = Atomic<Int>(0)
    func read(at offset: UInt64, size: Int) -> UInt64 {
        reads.add(1, ordering: .relaxed)
        return next.add(1, ordering: .relaxed).oldValue
    }
    func write(at offset: UInt64, size: Int, value: UInt64) {}
}

/// Accepts everything, counts accesses, reads as zero.
final class NullDevice: IOHandler {
    let accesses = Atomic<Int>(0)
    let lastWrite = Atomic<UInt64>(0)
    func read(at offset: UInt64, size: Int) -> UInt64 {
        accesses.add(1, ordering: .relaxed)
        return 0
    }
    func write(at offset: UInt64, size: Int, value: UInt64) {
        accesses.add(1, ordering: .relaxed)
        lastWrite.store(value, ordering: .relaxed)
    }
}

/// A 4 KiB register file: reads return what was written (little-endian), and every access is logged.
final class ScratchMMIO: IOHandler {
    struct Access: Equatable, CustomStringConvertible {
        var write: Bool
        var offset: UInt64
        var size: Int
        var value: UInt64
        var description: String { "\(write ? "W" : "R")\(size)@0x\(String(offset, radix: 16))=0x\(String(value, radix: 16))" }
    }
    private let state = Mutex<(bytes: [UInt8], log: [Access])>((bytes: [UInt8](repeating: 0, count: 4096), log: []))

    func read(at offset: UInt64, size: Int) -> UInt64 {
        state.withLock { s in
            var v: UInt64 = 0
            for i in (0..<size).reversed() where Int(offset) + i < 4096 { v = v << 8 | UInt64(s.bytes[Int(offset) + i]) }
            s.log.append(Access(write: false, offset: offset, size: size, value: v))
            return v
        }
    }

    func write(at offset: UInt64, size: Int, value: UInt64) {
        state.withLock { s in
            for i in 0..<size where Int(offset) + i < 4096 { s.bytes[Int(offset) + i] = UInt8(truncatingIfNeeded: value >> UInt64(8 * i)) }
            s.log.append(Access(write: true, offset: offset, size: size, value: value))
        }
    }

    var log: [Access] { state.withLock { $0.log } }
}

/// Port 0x702: a write of vector V sends an MSI with that vector to APIC 0 (KVM_SIGNAL_MSI), from
/// the vCPU thread handling the exit.
final class MSITriggerPort: IOHandler {
    let msi: (any MSIController)?
    /// When set, every write raises this route instead of signalling the written vector.
    let route: (any MSIVectorRoute)?
    let failures = Atomic<Int>(0)
    init(msi: any MSIController) {
        self.msi = msi
        route = nil
    }
    init(route: any MSIVectorRoute) {
        msi = nil
        self.route = route
    }
    func read(at offset: UInt64, size: Int) -> UInt64 { 0 }
    func write(at offset: UInt64, size: Int, value: UInt64) {
        do {
            if let route {
                try route.signal()
            } else {
                try msi?.signal(MSIMessage(address: 0xFEE0_0000, data: UInt32(value & 0xFF)))
            }
        } catch {
            failures.add(1, ordering: .relaxed)
        }
    }
}

/// Port 0x705: records the monotonic time of each phase marker the guest writes.
final class MarkerPort: IOHandler {
    private let marks = Mutex<[(phase: UInt64, ns: UInt64)]>([])
    func read(at offset: UInt64, size: Int) -> UInt64 { 0 }
    func write(at offset: UInt64, size: Int, value: UInt64) {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        let ns = UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
        marks.withLock { $0.append((phase: value, ns: ns)) }
    }
    /// Nanoseconds between marker `phase` and the next one.
    func duration(ofPhase phase: UInt64) -> UInt64? {
        marks.withLock { m in
            guard let i = m.firstIndex(where: { $0.phase == phase }), i + 1 < m.count else { return nil }
            return m[i + 1].ns - m[i].ns
        }
    }
}
