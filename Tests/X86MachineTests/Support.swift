import DeviceModel
import DeviceModelTesting
import Synchronization
import Testing

@testable import X86Machine

/// A clock the test moves by hand.
final class ManualClock: HostClock {
    private let now = Mutex<(mono: UInt64, real: Int64)>((1_000_000_000, 0))

    init(realtimeSeconds: Int64 = 0) { now.withLock { $0.real = realtimeSeconds * 1_000_000_000 } }

    func monotonicNanoseconds() -> UInt64 { now.withLock { $0.mono } }
    func realtimeNanoseconds() -> Int64 { now.withLock { $0.real } }

    func advance(nanoseconds: Int64) {
        now.withLock { t in
            t.mono &+= UInt64(nanoseconds)
            t.real &+= nanoseconds
        }
    }

    func setRealtime(nanoseconds: Int64) { now.withLock { $0.real = nanoseconds } }
}

/// Collects machine events and output bytes.
final class Recorder: Sendable {
    private let eventList = Mutex<[MachineEvent]>([])
    private let byteList = Mutex<[UInt8]>([])

    var events: [MachineEvent] { eventList.withLock { $0 } }
    var bytes: [UInt8] { byteList.withLock { $0 } }

    var eventHandler: MachineEventHandler { { [self] e in eventList.withLock { $0.append(e) } } }
    var output: SerialOutput { { [self] b in byteList.withLock { $0.append(b) } } }
}

extension IODispatcher {
    func outb(_ port: UInt64, _ value: UInt8) {
        var r = IORequest.write(.port, port, size: 1, value: UInt64(value))
        try? dispatch(&r)
    }

    func outw(_ port: UInt64, _ value: UInt16) {
        var r = IORequest.write(.port, port, size: 2, value: UInt64(value))
        try? dispatch(&r)
    }

    func inb(_ port: UInt64) -> UInt8 {
        var r = IORequest.read(.port, port, size: 1)
        try? dispatch(&r)
        return UInt8(truncatingIfNeeded: r.value ?? 0xFF)
    }

    func inw(_ port: UInt64) -> UInt16 {
        var r = IORequest.read(.port, port, size: 2)
        try? dispatch(&r)
        return UInt16(truncatingIfNeeded: r.value ?? 0xFFFF)
    }

    func inl(_ port: UInt64) -> UInt32 {
        var r = IORequest.read(.port, port, size: 4)
        try? dispatch(&r)
        return UInt32(truncatingIfNeeded: r.value ?? 0xFFFF_FFFF)
    }
}

/// A dispatcher with all legacy devices registered (including 0xCF9).
struct LegacyMachine {
    let dispatcher = IODispatcher()
    let lines = RecordingInterruptLineProvider()
    /// The lines the legacy devices drive, by GSI (1, 4, 9, 12).
    let line: [UInt32: RecordingInterruptLine]
    let recorder = Recorder()
    let clock: ManualClock
    let devices: X86LegacyDevices

    init(ramSize: UInt64 = 512 << 20, cpus: Int = 2, clock: ManualClock = ManualClock(realtimeSeconds: 1_700_000_000)) throws {
        self.clock = clock
        var line: [UInt32: RecordingInterruptLine] = [:]
        for gsi: UInt32 in [1, 4, 9, 12] { line[gsi] = try lines.recordingLine(gsi: gsi) }
        self.line = line
        let layout = try X86MemoryLayout(ramSize: ramSize)
        devices = try X86LegacyDevices(
            layout: layout, cpuCount: cpus, interrupts: lines, serialOutput: recorder.output,
            debugOutput: recorder.output, clock: clock, events: recorder.eventHandler)
        try devices.register(in: dispatcher, includingResetControl: true)
    }
}
