import DeviceModel
import Foundation
import KVMGlue
import Synchronization
import X86Machine

/// Port 0x710: every 32-bit read returns `step`, except read number `special.read`, which runs
/// `special.hook` on the vCPU thread (e.g. to have the vCPU paused while it handles this exit)
/// and returns `special.value`.
final class StepPort: IOHandler {
    struct Special: Sendable {
        var read: Int
        var value: UInt64
        var hook: @Sendable () -> Void
    }
    let step: UInt64
    let special: Special?
    private let count = Atomic<Int>(0)

    init(step: UInt64 = 1, special: Special? = nil) {
        self.step = step
        self.special = special
    }

    func read(at offset: UInt64, size: Int) -> UInt64 {
        let n = count.add(1, ordering: .relaxed).newValue
        if let special, n == special.read {
            special.hook()
            return special.value
        }
        return step
    }

    func write(at offset: UInt64, size: Int, value: UInt64) {}

    /// Reads so far.
    var reads: Int { count.load(ordering: .relaxed) }
}

/// The transmit side of a UART at 0x3F8 (as ``UARTCapture``) that runs `hook` on the vCPU thread
/// after byte number `hookAt` has been written.
final class HookedUART: IOHandler {
    private let bytes = Mutex<[UInt8]>([])
    let hookAt: Int?
    let hook: @Sendable () -> Void

    init(hookAt: Int? = nil, hook: @escaping @Sendable () -> Void = {}) {
        self.hookAt = hookAt
        self.hook = hook
    }

    func read(at offset: UInt64, size: Int) -> UInt64 { offset == 5 ? 0x60 : 0 }

    func write(at offset: UInt64, size: Int, value: UInt64) {
        guard offset == 0 else { return }
        let count = bytes.withLock { b in
            b.append(UInt8(truncatingIfNeeded: value))
            return b.count
        }
        if count == hookAt { hook() }
    }

    var text: String { String(decoding: bytes.withLock { $0 }, as: UTF8.self) }
}

/// Port 0x714: records every value the guest writes.
final class ProgressPort: IOHandler {
    private let values = Mutex<[UInt32]>([])
    func read(at offset: UInt64, size: Int) -> UInt64 { 0 }
    func write(at offset: UInt64, size: Int, value: UInt64) { values.withLock { $0.append(UInt32(truncatingIfNeeded: value)) } }
    var all: [UInt32] { values.withLock { $0 } }
    var last: UInt32? { values.withLock { $0.last } }
}

/// Port 0x501 on an accelerator: a write of N stops the machine with `.guestExit(N)`.
final class AcceleratorExitPort: IOHandler {
    let accelerator: any X86Accelerator
    init(accelerator: any X86Accelerator) { self.accelerator = accelerator }
    func read(at offset: UInt64, size: Int) -> UInt64 { 0 }
    func write(at offset: UInt64, size: Int, value: UInt64) { accelerator.stop(.guestExit(Int32(truncatingIfNeeded: value & 0xFF))) }
}

/// A machine on ``KVMAccelerator`` as a PC machine drives it (mapRAM, mapFirmware,
/// createProcessors, start), with the devices of Tests/Guests/ports.inc the snapshot guest uses.
final class SnapshotMachine {
    static let memorySize: UInt64 = 4 << 20
    let accelerator: KVMAccelerator
    let ram: MappedGuestMemory
    let dispatcher = IODispatcher()
    let uart: HookedUART
    let progress = ProgressPort()
    let step: StepPort

    /// A machine with `memory` bytes of RAM (untouched pages cost nothing).
    init(memory: UInt64 = SnapshotMachine.memorySize, step: StepPort = StepPort(), uart: HookedUART = HookedUART()) throws {
        self.step = step
        self.uart = uart
        accelerator = try KVMAccelerator()
        ram = try MappedGuestMemory.anonymous([(guestBase: 0, length: memory)])
        try accelerator.mapRAM(ram)
        try dispatcher.ports.register(base: 0x3F8, length: 8, name: "uart", handler: uart)
        try dispatcher.ports.register(base: 0x501, length: 1, name: "exit", handler: AcceleratorExitPort(accelerator: accelerator))
        try dispatcher.ports.register(base: 0x710, length: 4, name: "step", handler: step)
        try dispatcher.ports.register(base: 0x714, length: 4, name: "progress", handler: progress)
    }

    /// Maps `image` as firmware; with `boot`, copies it below 1 MiB and creates `vcpus` vCPUs at
    /// the reset vector (a restored machine has the copy in its RAM and restores its vCPUs).
    func loadFirmware(_ image: [UInt8], boot vcpus: Int?) throws {
        let firmware = try FirmwareImage(bytes: image, name: "snapshot guest")
        try accelerator.mapFirmware(firmware)
        if let vcpus {
            try firmware.writeLegacyCopy(to: ram)
            try accelerator.createProcessors(count: vcpus, boot: .powerOn)
        }
    }

    func start() throws { try accelerator.start(sink: dispatcher) }

    /// Waits until `condition` holds, polling every 5 ms for at most `timeoutMs`.
    static func waitUntil(timeoutMs: Int = 60_000, _ condition: () -> Bool) -> Bool {
        var waited = 0
        while !condition() {
            guard waited < timeoutMs else { return false }
            usleep(5_000)
            waited += 5
        }
        return true
    }

    /// Waits for the run to end; stops it with `.host` if it has not after `timeoutMs`.
    func finish(timeoutMs: Int = 120_000) -> MachineRunOutcome {
        final class Flag: Sendable { let done = Atomic<Bool>(false) }
        let flag = Flag()
        let accelerator = self.accelerator
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(timeoutMs)) {
            if !flag.done.load(ordering: .acquiring) { accelerator.stop(.host) }
        }
        defer { flag.done.store(true, ordering: .releasing) }
        return accelerator.wait()
    }
}
