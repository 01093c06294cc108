import DeviceModel
import Foundation
import KVMGlue
import X86Machine

/// A minimal machine for the test guests: RAM, the devices listed in Tests/Guests/firmware.inc,
/// and a runner. Each test builds its own.
final class TestMachine {
    let kvm: KVMSystem
    let vm: KVMVirtualMachine
    let ram: MappedGuestMemory
    let dispatcher = IODispatcher()
    let uart = UARTCapture()
    let slot = RunnerSlot()
    let pattern = PatternPort()
    let nullPort = NullDevice()
    let nullMMIO = NullDevice()
    let scratch = ScratchMMIO()
    let marker = MarkerPort()
    let vcpus: [KVMVCPU]
    private(set) var runner: VCPURunner?
    private var rom: ROMMapping?

    static let scratchBase: UInt64 = 0xD000_0000
    static let nullMMIOBase: UInt64 = 0xD000_1000
    static let notifyMMIO: UInt64 = 0xD000_2000
    static let notifyPort: UInt64 = 0x70C

    /// A VM with `memory` bytes of RAM and `vcpuCount` vCPUs; `irqchip: false` leaves out the
    /// in-kernel LAPIC/IOAPIC/PIC/PIT (HLT then exits to userspace).
    init(memory: UInt64 = 4 << 20, vcpuCount: Int = 1, irqchip: Bool = true) throws {
        kvm = try KVMSystem()
        vm = try kvm.createVM()
        if irqchip {
            try vm.setupX86Platform()
        } else {
            try vm.setIdentityMapAddress()
            try vm.setTSSAddress()
        }
        ram = try vm.mapRAM(try GuestRAMLayout(size: memory))
        let cpuid = try kvm.supportedCPUID()
        var vcpus: [KVMVCPU] = []
        for id in 0..<vcpuCount {
            let v = try vm.createVCPU(id: id)
            try v.setCPUID(cpuid.forVCPU(id, of: vcpuCount))
            vcpus.append(v)
        }
        self.vcpus = vcpus
        try dispatcher.ports.register(base: 0x3F8, length: 8, name: "uart", handler: uart)
        try dispatcher.ports.register(base: 0x501, length: 1, name: "exit", handler: ExitPort(slot: slot))
        try dispatcher.ports.register(base: 0x700, length: 2, name: "pattern", handler: pattern)
        try dispatcher.ports.register(base: 0x705, length: 1, name: "marker", handler: marker)
        try dispatcher.ports.register(base: 0x706, length: 4, name: "null", handler: nullPort)
        try dispatcher.memory.register(base: Self.scratchBase, length: 0x1000, name: "scratch", handler: scratch)
        try dispatcher.memory.register(base: Self.nullMMIOBase, length: 0x1000, name: "null-mmio", handler: nullMMIO)
    }

    /// Maps `image` as firmware (as the launcher does) and puts vCPU 0 at the reset vector.
    func loadFirmware(_ image: [UInt8]) throws {
        let firmware = try FirmwareImage(bytes: image, name: "test guest")
        rom = try vm.mapFirmware(firmware)
        try firmware.writeLegacyCopy(to: ram)
        try vcpus[0].setRegisters(.powerOn)
    }

    /// Runs until the guest exits, a vCPU fails, or `timeoutMs` passes (then stops with `.host`).
    func run(timeoutMs: Int = 60_000, sink: (any IORequestSink)? = nil) throws -> VMRunResult {
        let runner = try VCPURunner(vcpus: vcpus, sink: sink ?? dispatcher)
        self.runner = runner
        slot.set(runner)
        try runner.start()
        if let result = runner.wait(timeoutMs: timeoutMs) { return result }
        runner.stop(.host)
        return runner.wait() ?? .stopped(.host)
    }
}
