import DeviceModel
import DeviceModelTesting
import Foundation
import Machine
import Synchronization
import SwiftdmTestSupport
import Testing
import X86Machine

/// ``PCMachine/systemReset()`` on a recording accelerator: the order of a reset in place (vCPUs
/// paused, devices reset, the BIOS's RAM copy written again, processors reset, vCPUs resumed
/// unless they were paused) and what the devices look like afterwards, without KVM.
@Suite struct PCMachineResetTests {
    @Test func resetInPlaceRestoresDevicesAndTheFirmwareCopy() throws {
        let bios = try PCMachineTests.firmwareFile()
        defer { try? FileManager.default.removeItem(atPath: bios) }
        let accelerator = try ResettableRecordingAccelerator()
        var config = PCConfiguration(boot: .firmware(path: bios), memory: MemorySize(bytes: 64 << 20))
        config.devices = [.entropy(EntropyDeviceSpec())]
        let machine = try PCMachine(configuration: config, accelerator: accelerator, serialOutput: { _ in })
        #expect(machine.canResetInPlace)
        let vcpu = SimulatedVCPU(dispatcher: machine.dispatcher, memory: machine.ram)
        // The guest: its BIOS copy changed (SeaBIOS records that it ran there), the PCI function
        // decoding, the UART's scratch register and a CMOS byte written.
        try machine.ram.write(UInt8(0x90), at: 0xFFFF0)
        machine.pciBus.writeConfig(bus: 0, device: 1, function: 0, register: 0x04, size: 2, value: 0x0006)
        try vcpu.write(.port, X86LegacyDevices.com1Base + 7, size: 1, value: 0x5A)
        try vcpu.write(.port, 0x70, size: 1, value: 0x40)
        try vcpu.write(.port, 0x71, size: 1, value: 0x07)
        accelerator.log.withLock { $0.removeAll() }

        try machine.systemReset()

        #expect(accelerator.log.withLock { $0 } == ["pause", "reset rip 0xfff0", "resume"])
        #expect(try machine.ram.read(UInt8.self, at: 0xFFFF0) == 0xF4, "the BIOS copy is written again")
        #expect(machine.pciBus.readConfig(bus: 0, device: 1, function: 0, register: 0x04, size: 2) == 0)
        #expect(try vcpu.read(.port, X86LegacyDevices.com1Base + 7, size: 1) == 0)
        try vcpu.write(.port, 0x70, size: 1, value: 0x40)
        #expect(try vcpu.read(.port, 0x71, size: 1) == 0x07, "CMOS RAM survives")

        // Paused before: paused after.
        accelerator.log.withLock { $0.removeAll() }
        try machine.pause()
        try machine.systemReset()
        #expect(accelerator.log.withLock { $0 } == ["pause", "pause", "reset rip 0xfff0"])
    }

    /// A kernel boot is established again: the kernel, its command line and boot_params
    /// written over what the guest left, vCPU 0 at the kernel's 64-bit entry.
    @Test(.enabled(if: HostRequirements.nasm, "needs nasm for the minikernel")) func resetInPlaceLoadsTheKernelAgain() throws {
        _ = try GuestImages.image("minikernel")
        let kernel = GuestImages.buildDirectory.appendingPathComponent("minikernel.bin").path
        let accelerator = try ResettableRecordingAccelerator()
        let config = PCConfiguration(boot: .kernel(path: kernel, initrd: nil, commandLine: "console=ttyS0 again"), memory: MemorySize(bytes: 128 << 20))
        let machine = try PCMachine(configuration: config, accelerator: accelerator, serialOutput: { _ in })
        let boot = try #require(accelerator.log.withLock { $0 }.first { $0.hasPrefix("processors") })
        let bootParams: UInt64 = 0x7000
        let original = try machine.ram.readBytes(at: 0, count: 1 << 20)
        let kernelImage = try machine.ram.readBytes(at: 0x10_0000, count: 512)
        try machine.ram.writeBytes([UInt8](repeating: 0xCC, count: 1 << 20), at: 0)
        try machine.ram.writeBytes([UInt8](repeating: 0xCC, count: 512), at: 0x10_0000)
        accelerator.log.withLock { $0.removeAll() }

        try machine.systemReset()

        let entry = boot.split(separator: " ").last.map(String.init) ?? "?"
        #expect(accelerator.log.withLock { $0 } == ["pause", "reset rip \(entry)", "resume"])
        #expect(try machine.ram.readBytes(at: bootParams, count: 4096) == Array(original[Int(bootParams)..<Int(bootParams) + 4096]),
                "boot_params written again")
        #expect(try machine.ram.readBytes(at: 0x10_0000, count: 512) == kernelImage, "the kernel loaded again")
    }

    @Test func anAcceleratorThatCannotResetIsRefused() throws {
        let bios = try PCMachineTests.firmwareFile()
        defer { try? FileManager.default.removeItem(atPath: bios) }
        let machine = try PCMachine(configuration: PCConfiguration(boot: .firmware(path: bios), memory: MemorySize(bytes: 16 << 20)),
                                    accelerator: try RecordingAccelerator(), serialOutput: { _ in })
        #expect(!machine.canResetInPlace)
        #expect(throws: MachineError.controlRefused("this machine's accelerator cannot reset its processors in place")) {
            try machine.systemReset()
        }
    }
}

/// A ``RecordingAccelerator`` that pauses and resets its (imaginary) processors.
final class ResettableRecordingAccelerator: RecordingAccelerator, ResettableAccelerator, @unchecked Sendable {
    // SAFETY: `paused` is a Mutex; the rest is the superclass's.
    private let paused = Mutex(false)

    var isPaused: Bool { paused.withLock { $0 } }

    func pause() -> Bool {
        log.withLock { $0.append("pause") }
        paused.withLock { $0 = true }
        return true
    }

    func resume() {
        log.withLock { $0.append("resume") }
        paused.withLock { $0 = false }
    }

    func resetProcessors(boot: X86CPUState) throws {
        log.withLock { $0.append("reset rip 0x\(String(boot.rip, radix: 16))") }
    }
}
