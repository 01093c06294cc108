import DeviceModel
import DeviceModelTesting
import Synchronization
import Testing

/// A small DMA copy engine written the way a third-party device would be, against the
/// hypervisor-generic protocols only, to show the simulated machine drives it end to end.
///
/// Registers (MMIO, little-endian): 0x00 SRC (8), 0x08 DST (8), 0x10 LEN (4),
/// 0x14 STATUS (4; bit 0 done, bit 1 error; write 1 to clear), 0x18 DOORBELL (2, an
/// ioeventfd), 0x20 MSI address (8), 0x28 MSI data (4). INTx on its line while STATUS != 0.
final class CopyEngine: IOHandler {
    private struct Registers {
        var source: UInt64 = 0
        var destination: UInt64 = 0
        var length: UInt32 = 0
        var status: UInt32 = 0
        var msiAddress: UInt64 = 0
        var msiData: UInt32 = 0
    }
    private let registers = Mutex(Registers())
    private let memory: any GuestMemory
    private let msi: any MSIController
    private let intx: any InterruptLine
    private let doorbell: EventNotifier
    private let watch = Mutex<EventSource?>(nil)

    init(memory: any GuestMemory, msi: any MSIController, intx: any InterruptLine,
         ioEvents: any IOEventRegistrar, doorbellAddress: UInt64, loop: EventLoop) throws {
        self.memory = memory
        self.msi = msi
        self.intx = intx
        doorbell = try EventNotifier()
        try ioEvents.register(IOEventMatch(space: .memory, address: doorbellAddress, size: 2), notifier: doorbell)
        let source = loop.watch(fd: doorbell.fd) { [doorbell, weak self] _ in
            doorbell.drain()
            self?.run()
        }
        watch.withLock { $0 = source }
    }

    func stop() { watch.withLock { $0?.cancel() } }

    /// The device's I/O-thread work: copy through GuestMemory, then interrupt.
    private func run() {
        let (source, destination, length) = registers.withLock { ($0.source, $0.destination, Int($0.length)) }
        var status: UInt32 = 1
        do {
            // A hostile guest may point anywhere: GuestMemory refuses, the device reports it.
            let bytes = try memory.readBytes(at: source, count: length)
            try memory.writeBytes(bytes, at: destination)
        } catch {
            status |= 2
        }
        let message = registers.withLock { r in
            r.status |= status
            return MSIMessage(address: r.msiAddress, data: r.msiData)
        }
        try? intx.setLevel(true)
        try? msi.signal(message)
    }

    func read(at offset: UInt64, size: Int) -> UInt64 {
        registers.withLock { r in
            switch (offset, size) {
            case (0x00, 8): r.source
            case (0x08, 8): r.destination
            case (0x10, 4): UInt64(r.length)
            case (0x14, 4): UInt64(r.status)
            case (0x20, 8): r.msiAddress
            case (0x28, 4): UInt64(r.msiData)
            default: 0
            }
        }
    }

    func write(at offset: UInt64, size: Int, value: UInt64) {
        let clearedAll: Bool = registers.withLock { r in
            switch (offset, size) {
            case (0x00, 8): r.source = value
            case (0x08, 8): r.destination = value
            case (0x10, 4): r.length = UInt32(truncatingIfNeeded: value)
            case (0x14, 4):
                r.status &= ~UInt32(truncatingIfNeeded: value)
                return r.status == 0
            case (0x20, 8): r.msiAddress = value
            case (0x28, 4): r.msiData = UInt32(truncatingIfNeeded: value)
            default: break
            }
            return false
        }
        if clearedAll { try? intx.setLevel(false) }
    }
}

@Suite("Simulated machine")
struct SimulatedMachineTests {
    static let bar: UInt64 = 0xFEBF_0000

    @Test func aDeviceIsDrivenThroughRegistersOnly() throws {
        let machine = try SimulatedMachine()
        let loop = try EventLoop(name: "copy-engine")
        defer { loop.shutdown() }
        let line = try machine.interruptLine(gsi: 11)
        let engine = try CopyEngine(
            memory: machine.memory, msi: machine.msi, intx: line, ioEvents: machine.ioEvents,
            doorbellAddress: Self.bar + 0x18, loop: loop)
        defer { engine.stop() }
        try machine.dispatcher.memory.register(base: Self.bar, length: 0x1000, name: "copy-engine", handler: engine)

        // The "driver": lay out buffers, program the device, ring, wait for the interrupt.
        let payload = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let source = try machine.allocator.allocate(copying: payload)
        let destination = try machine.allocator.allocate(payload.count, alignment: 4096)
        let cpu = machine.vcpu
        try cpu.write(.memory, Self.bar + 0x00, size: 8, value: source.address)
        try cpu.write(.memory, Self.bar + 0x08, size: 8, value: destination.address)
        try cpu.write(.memory, Self.bar + 0x10, size: 4, value: UInt64(payload.count))
        try cpu.write(.memory, Self.bar + 0x20, size: 8, value: 0xFEE0_0000)
        try cpu.write(.memory, Self.bar + 0x28, size: 4, value: 0x41)
        try cpu.write(.memory, Self.bar + 0x18, size: 2, value: 0)

        let message = try #require(machine.msi.messages.next(timeout: patience))
        #expect(message == MSIMessage(address: 0xFEE0_0000, data: 0x41))
        #expect(try machine.memory.readBytes(at: destination.address, count: payload.count) == payload)
        #expect(try cpu.read(.memory, Self.bar + 0x14, size: 4) == 1)
        #expect(line.isAsserted)
        try cpu.write(.memory, Self.bar + 0x14, size: 4, value: 1)
        #expect(line.levelChanges.all == [true, false])

        // A hostile source address: the device reports an error and still interrupts.
        try cpu.write(.memory, Self.bar + 0x00, size: 8, value: 0xFFFF_FFFF_FFFF_FF00)
        try cpu.write(.memory, Self.bar + 0x18, size: 2, value: 0)
        #expect(machine.msi.messages.next(timeout: patience) != nil)
        #expect(try cpu.read(.memory, Self.bar + 0x14, size: 4) == 3)
        #expect(line.wait(forLevel: true, timeout: patience))
    }

    // MARK: Guest allocator

    @Test func allocationsAreAlignedDisjointZeroedAndAvoidPageZero() throws {
        let machine = try SimulatedMachine()
        let a = try machine.allocator.allocate(3)
        let b = try machine.allocator.allocate(8, alignment: 4096)
        let c = try machine.allocator.allocate(1, alignment: 1)
        #expect(a.address >= 0x1000)
        #expect(a.address % 16 == 0)
        #expect(b.address % 4096 == 0)
        #expect(b.address >= a.end)
        #expect(c.address == b.end)
        #expect(machine.allocator.used == c.end - 0x1000)

        try machine.memory.fill(0xEE, at: b.address, length: 8)
        machine.allocator.reset()
        #expect(machine.allocator.used == 0)
        let again = try machine.allocator.allocate(4096 + 8)
        #expect(again.address == 0x1000)
        #expect(try machine.memory.readBytes(at: b.address, count: 8) == [UInt8](repeating: 0, count: 8))
    }

    @Test func allocatorReportsExhaustionAndBadArguments() throws {
        let machine = try SimulatedMachine(ram: [(0, 0x3000)])
        #expect(machine.allocator.range == AddressRange(base: 0x1000, length: 0x2000))
        _ = try machine.allocator.allocate(0x1FF0)
        #expect(throws: SimulationError.allocatorExhausted(requested: 0x20, alignment: 16, available: 0x10)) {
            _ = try machine.allocator.allocate(0x20)
        }
        _ = try machine.allocator.allocate(0x10)
        #expect(machine.allocator.available == 0)
        for alignment: UInt64 in [0, 3, 24] {
            #expect(throws: SimulationError.invalidAlignment(alignment)) {
                _ = try machine.allocator.allocate(1, alignment: alignment)
            }
        }
        for length in [0, -1] {
            #expect(throws: SimulationError.invalidAllocationLength(length)) {
                _ = try machine.allocator.allocate(length)
            }
        }
        #expect(throws: SimulationError.allocatorRangeNotRAM(base: 0x2000, length: 0x2000)) {
            _ = try GuestAllocator(memory: machine.memory, base: 0x2000, length: 0x2000)
        }
    }

    @Test func allocatorWorksUpToTheTopOfTheAddressSpace() throws {
        let base = UInt64.max - 0xFFF
        let memory = try MappedGuestMemory.anonymous([(base, 0x1000)])
        let allocator = try GuestAllocator(memory: memory, base: base, length: 0x1000)
        let block = try allocator.allocate(0x1000, alignment: 4096)
        #expect(block.address == base)
        #expect(block.end == 0)  // wraps: documented
        #expect(throws: SimulationError.allocatorExhausted(requested: 1, alignment: 1, available: 0)) {
            _ = try allocator.allocate(1, alignment: 1)
        }
    }

    @Test func machineRejectsBadRAMLayouts() {
        #expect(throws: SimulationError.guestMemory(.outOfRange(gpa: 0x800, length: 0x1000))) {
            _ = try SimulatedMachine(ram: [(0, 0x1000), (0x800, 0x1000)])
        }
        #expect(throws: SimulationError.guestMemory(.outOfRange(gpa: 0, length: 0))) {
            _ = try SimulatedMachine(ram: [])
        }
    }

    // MARK: Interrupts

    @Test func msiDeliveriesAreRecordedInOrderAndCanBeAwaitedFromAnotherThread() throws {
        let machine = try SimulatedMachine()
        #expect(machine.msi.messages.next(timeout: .milliseconds(1)) == nil)
        let msi = machine.msi
        let join = spawnThread {
            for vector: UInt32 in 0x30..<0x34 { try? msi.signal(MSIMessage(address: 0xFEE0_0000, data: vector)) }
        }
        for vector: UInt8 in 0x30..<0x34 {
            #expect(msi.messages.next(timeout: patience)?.vector == vector)
        }
        join()
        #expect(msi.messages.count == 4)

        msi.failDeliveries(with: .deliveryFailed(what: "test", errno: 5))
        #expect(throws: InterruptError.deliveryFailed(what: "test", errno: 5)) {
            try msi.signal(MSIMessage(address: 0xFEE0_0000, data: 0x99))
        }
        #expect(msi.messages.count == 4)
        msi.failDeliveries(with: nil)
        try msi.signal(MSIMessage(address: 0xFEE0_0000, data: 0x99))
        #expect(msi.messages.last?.data == 0x99)
    }

    @Test func interruptLinesRecordOnlyChanges() throws {
        let machine = try SimulatedMachine()
        let line = try machine.interruptLine(gsi: 4)
        for level in [true, true, false, false, true] { try line.setLevel(level) }
        #expect(line.levelChanges.all == [true, false, true])
        #expect(line.isAsserted)
        try line.pulse()  // already high: only the fall
        try line.pulse()  // low: a rise and a fall
        #expect(line.levelChanges.all == [true, false, true, false, true, false])
        #expect(line.risingEdges == 3)
        #expect(!line.isAsserted)

        // The provider hands out the same line to the device.
        let asDevice = try machine.interruptLines.line(gsi: 4)
        #expect(asDevice === line)
        #expect(throws: InterruptError.invalidLine(24)) { _ = try machine.interruptLines.line(gsi: 24) }

        line.failDeliveries(with: .invalidLine(4))
        #expect(throws: InterruptError.invalidLine(4)) { try line.setLevel(true) }
        #expect(!line.isAsserted)
    }

    @Test func aTestCanWaitForALevelSetOnAnotherThread() throws {
        let machine = try SimulatedMachine(interruptLineCount: 32)
        let line = try machine.interruptLine(gsi: 31)
        let join = spawnThread {
            try? line.setLevel(true)
            try? line.pulse()
            try? line.setLevel(true)
        }
        #expect(line.wait(forRisingEdges: 2, timeout: patience))
        #expect(line.wait(forLevel: true, timeout: patience))
        join()
        #expect(line.levelChanges.all == [true, false, true])
    }

    // MARK: vCPU

    @Test func vcpuStringVariantsReachTheHandler() throws {
        let machine = try SimulatedMachine()
        let device = RecordingIOHandler(length: 0x40)
        try machine.dispatcher.memory.register(base: 0xC000_0000, length: 0x40, name: "regs", handler: device)
        try machine.dispatcher.ports.register(base: 0x400, length: 4, name: "port", handler: device)

        // Host buffer (KVM shape): MMIO elements walk the registers.
        try machine.vcpu.writeString(.memory, 0xC000_0000, size: 4, bytes: [1, 0, 0, 0, 2, 0, 0, 0])
        #expect(device.peek(at: 0, size: 8) == 0x0000_0002_0000_0001)
        #expect(try machine.vcpu.readString(.memory, 0xC000_0000, size: 2, count: 3) == [1, 0, 0, 0, 2, 0])

        // Guest buffer (Xen shape): port elements hit the same register.
        let buffer = try machine.allocator.allocate(copying: [0xA, 0xB, 0xC])
        try machine.vcpu.writeString(.port, 0x400, size: 1, count: 3, fromGuest: buffer.address)
        #expect(device.accesses.all.suffix(3).map(\.value) == [0xA, 0xB, 0xC])
        #expect(device.accesses.all.suffix(3).allSatisfy { $0.offset == 0 })
        try machine.vcpu.readString(.port, 0x400, size: 1, count: 2, toGuest: buffer.address)
        #expect(try machine.memory.readBytes(at: buffer.address, count: 3) == [0xC, 0xC, 0xC])

        // PCI configuration helpers.
        try machine.dispatcher.pciConfig.register(base: UInt64(0x18) << 32, length: 256, name: "00:03.0", handler: device)
        try machine.vcpu.writePCIConfig(sbdf: 0x18, register: 0x3C, size: 1, value: 11)
        #expect(try machine.vcpu.readPCIConfig(sbdf: 0x18, register: 0x3C, size: 1) == 11)
    }

    @Test func vcpuRejectsMalformedStringRequests() throws {
        let machine = try SimulatedMachine()
        let vcpu = machine.vcpu
        #expect(throws: SimulationError.invalidStringLength(bytes: 0, size: 2)) {
            try vcpu.writeString(.port, 0x60, size: 2, bytes: [])
        }
        #expect(throws: SimulationError.invalidStringLength(bytes: 3, size: 2)) {
            try vcpu.writeString(.port, 0x60, size: 2, bytes: [1, 2, 3])
        }
        #expect(throws: SimulationError.dispatch(.invalidSize(3))) {
            try vcpu.writeString(.port, 0x60, size: 3, bytes: [1, 2, 3])
        }
        #expect(throws: SimulationError.dispatch(.invalidCount(0))) {
            _ = try vcpu.readString(.port, 0x60, size: 1, count: 0)
        }
        var small = [UInt8](repeating: 0, count: 3)
        let result = small.withUnsafeMutableBytes { buffer in
            Result { () throws(SimulationError) in
                try vcpu.dispatchHostBuffer(.port, 0x60, size: 2, count: 2, direction: .read, buffer)
            }
        }
        #expect(throws: SimulationError.invalidStringLength(bytes: 3, size: 2)) { try result.get() }
    }

    // MARK: Recorders

    @Test func eventRecorderConsumesInOrderAndWaitsForConditions() throws {
        let recorder = EventRecorder<Int>()
        recorder.record(1)
        recorder.record(2)
        #expect(recorder.next(timeout: .zero) == 1)
        let join = spawnThread {
            for i in 3...10 { recorder.record(i) }
        }
        #expect(recorder.wait(timeout: patience) { $0.reduce(0, +) == 55 })
        join()
        #expect(recorder.next(timeout: .zero) == 2)
        #expect(recorder.next(timeout: .zero) == 3)
        #expect(recorder.all == Array(1...10))
        recorder.removeAll()
        #expect(recorder.count == 0)
        #expect(recorder.next(timeout: .milliseconds(1)) == nil)
        recorder.record(11)
        #expect(recorder.next(timeout: .zero) == 11)
    }

    @Test func recordingHandlerStorageBoundsAreSafe() {
        let handler = RecordingIOHandler(length: 4)
        handler.poke(at: 2, size: 4, value: 0xAABB_CCDD)  // the two bytes past the end are dropped
        #expect(handler.peek(at: 0, size: 4) == 0xCCDD_0000)
        #expect(handler.peek(at: 2, size: 4) == 0xFFFF_CCDD)
        #expect(handler.peek(at: .max, size: 8) == .max)
        #expect(handler.read(at: 3, size: 1) == 0xCC)
        #expect(handler.accesses.all == [IOAccess(offset: 3, size: 1, direction: .read, value: 0xCC)])
    }
}
