import DeviceModel
import DeviceModelTesting
import Foundation
import Machine
import Synchronization
import Testing
import X86Machine

/// The PC assembled on a recording accelerator: what the machine decides (RAM, firmware
/// placement, the memory map, devices and their slots, the boot state) checked without KVM.
@Suite struct PCMachineTests {
    /// A file of its own per test: the suite's tests run in parallel and each deletes its file.
    static func firmwareFile() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sdm-bios-\(getpid())-\(UUID().uuidString).bin").path
        // 128 KiB of `hlt` with a reset-vector jump would do for a CPU; the machine only maps it.
        #expect(FileManager.default.createFile(atPath: path, contents: Data(repeating: 0xF4, count: 128 << 10)))
        return path
    }

    @Test func firmwareBootOnTheAccelerator() throws {
        let bios = try Self.firmwareFile()
        defer { try? FileManager.default.removeItem(atPath: bios) }
        let accelerator = try RecordingAccelerator()
        var config = PCConfiguration(boot: .firmware(path: bios), memory: MemorySize(bytes: 64 << 20), cpus: 2)
        config.devices = [.entropy(EntropyDeviceSpec()), .entropy(EntropyDeviceSpec(transport: .mmio))]
        let machine = try PCMachine(configuration: config, accelerator: accelerator, serialOutput: { _ in })

        #expect(accelerator.log.withLock { $0 } == [
            "mapRAM [0x0 +0x4000000]", "firmware 0xfffe0000 +0x20000", "processors 2 rip 0xfff0",
        ])
        // The legacy copy of the BIOS tail sits at 0xE0000 in RAM.
        #expect(try machine.ram.read(UInt8.self, at: 0xE0000) == 0xF4)
        // The memory map reserves what the accelerator keeps for itself.
        #expect(machine.e820Map.entries.contains(E820Map.Entry(base: 0xFEFF_C000, length: 0x4000, type: .reserved)))
        // Devices: the PCI one in slot 1 (after the host bridge), the other in the first virtio-mmio window.
        #expect(machine.devices.attachments.map(\.pciAddress) == [PCIAddress(device: 1), nil])
        #expect(machine.devices.mmioSlots == [machine.layout.virtioMMIOSlots[0]])
        #expect(machine.pciBus.readConfig(bus: 0, device: 1, function: 0, register: 0, size: 4) == 0x1044_1AF4)
        // fw_cfg answers with its signature "QEMU".
        let vcpu = SimulatedVCPU(dispatcher: machine.dispatcher, memory: machine.ram)
        try vcpu.write(.port, FirmwareConfig.selectorPort, size: 2, value: UInt64(FirmwareConfig.signatureKey))
        var signature: [UInt8] = []
        for _ in 0..<4 { signature.append(UInt8(try vcpu.read(.port, FirmwareConfig.selectorPort + 1, size: 1))) }
        #expect(signature == Array("QEMU".utf8))
    }

    @Test func runEndsWithTheGuestsPowerOff() throws {
        let bios = try Self.firmwareFile()
        defer { try? FileManager.default.removeItem(atPath: bios) }
        let accelerator = try RecordingAccelerator()
        let machine = try PCMachine(configuration: PCConfiguration(boot: .firmware(path: bios), memory: MemorySize(bytes: 16 << 20)),
                                    accelerator: accelerator, serialOutput: { _ in })
        try machine.start()
        // ACPI soft-off through the PM1 control register, as a guest's shutdown writes it.
        let vcpu = SimulatedVCPU(dispatcher: machine.dispatcher, memory: machine.ram)
        try vcpu.write(
            .port, UInt64(ACPIPowerManagement.defaultBase + ACPIPowerManagement.controlBlockOffset), size: 2,
            value: UInt64(ACPIPowerManagement.softOffSleepType) << 10 | 1 << 13)
        #expect(machine.wait() == .stopped(.powerOff))
    }

    /// Firecracker's boot-complete signal (123 to port 0x3F0) and the power-off mark the phases.
    @Test func bootTimerMarksThePhases() throws {
        let bios = try Self.firmwareFile()
        defer { try? FileManager.default.removeItem(atPath: bios) }
        let machine = try PCMachine(configuration: PCConfiguration(boot: .firmware(path: bios), memory: MemorySize(bytes: 16 << 20)),
                                    accelerator: try RecordingAccelerator(), serialOutput: { _ in })
        try machine.start()
        let vcpu = SimulatedVCPU(dispatcher: machine.dispatcher, memory: machine.ram)
        try vcpu.write(.port, BootTimerPort.portAddress, size: 1, value: 7)  // not the signal
        #expect(machine.timeline.instant(of: .bootCompleted) == nil)
        try vcpu.write(.port, BootTimerPort.portAddress, size: 1, value: UInt64(BootTimerPort.bootCompleteValue))
        try vcpu.write(
            .port, UInt64(ACPIPowerManagement.defaultBase + ACPIPowerManagement.controlBlockOffset), size: 2,
            value: UInt64(ACPIPowerManagement.softOffSleepType) << 10 | 1 << 13)
        #expect(machine.wait() == .stopped(.powerOff))
        #expect(machine.timeline.phases.map(\.name) == [
            "setup → vcpus started", "vcpus started → boot complete", "boot complete → guest stopped",
        ])
    }

    @Test func badInputIsOneClearError() throws {
        let accelerator = try RecordingAccelerator()
        #expect(throws: MachineError.fileUnusable(option: "--firmware", path: "/nonexistent/bios.bin", reason: "No such file or directory")) {
            try PCMachine(configuration: PCConfiguration(boot: .firmware(path: "/nonexistent/bios.bin")), accelerator: accelerator)
        }
        let bios = try Self.firmwareFile()
        defer { try? FileManager.default.removeItem(atPath: bios) }
        var twice = PCConfiguration(boot: .firmware(path: bios), memory: MemorySize(bytes: 16 << 20))
        twice.devices = [.net(NetDeviceSpec(tap: "t0")), .net(NetDeviceSpec(tap: "t0"))]
        #expect(throws: MachineError.conflictingOptions("--net tap=t0 given twice")) {
            try PCMachine(configuration: twice, accelerator: accelerator)
        }
    }
}

/// An accelerator that records what the machine asks of it and delivers interrupts to the
/// simulated machine's recorders.
class RecordingAccelerator: X86Accelerator, @unchecked Sendable {
    // SAFETY: `log` and `stopped` are Mutexes; the rest is immutable.
    let log = Mutex<[String]>([])
    private let stopped = Mutex<MachineStopReason?>(nil)
    let simulated: SimulatedMachine

    init() throws { simulated = try SimulatedMachine() }

    var reservedRanges: [AddressRange] { [AddressRange(base: 0xFEFF_C000, length: 0x4000)!] }

    func mapRAM(_ ram: MappedGuestMemory) throws {
        let regions = ram.regions.map { "[0x\(String($0.guestBase, radix: 16)) +0x\(String($0.length, radix: 16))]" }
        log.withLock { $0.append("mapRAM " + regions.joined(separator: " ")) }
    }

    func mapFirmware(_ image: FirmwareImage) throws {
        log.withLock { $0.append("firmware 0x\(String(image.highRange.base, radix: 16)) +0x\(String(image.highRange.length, radix: 16))") }
    }

    func directBackend(ram: MappedGuestMemory, dispatcher: IODispatcher, pciINTxRouting: PCIINTxRouting) throws -> any MachineBackend {
        RecordingBackend(memory: ram, dispatcher: dispatcher, simulated: simulated, pciINTxRouting: pciINTxRouting)
    }

    func createProcessors(count: Int, boot: X86CPUState) throws {
        log.withLock { $0.append("processors \(count) rip 0x\(String(boot.rip, radix: 16))") }
    }

    func start(sink: any IORequestSink) throws {}

    func stop(_ reason: MachineStopReason) {
        stopped.withLock { if $0 == nil { $0 = reason } }
    }

    func wait() -> MachineRunOutcome {
        .stopped(stopped.withLock { $0 } ?? .host)
    }
}

/// The machine's RAM and dispatcher with the simulated machine's recording interrupts.
final class RecordingBackend: MachineBackend {
    let guestMemory: MappedGuestMemory
    let ioEvents: SoftwareIOEvents
    let msi: RecordingMSIController
    let interruptLines: RecordingInterruptLineProvider
    let pciINTxRouting: PCIINTxRouting

    init(memory: MappedGuestMemory, dispatcher: IODispatcher, simulated: SimulatedMachine, pciINTxRouting: PCIINTxRouting) {
        guestMemory = memory
        ioEvents = dispatcher.softwareIOEvents
        msi = simulated.msi
        interruptLines = simulated.interruptLines
        self.pciINTxRouting = pciINTxRouting
    }
}
