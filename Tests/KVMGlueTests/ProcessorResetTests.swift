import DeviceModel
import Foundation
import KVMGlue
import SwiftdmTestSupport
import Testing
import X86Machine

/// ``KVMAccelerator/resetProcessors(boot:)`` on real KVM: a paused guest's vCPUs, PICs, IOAPIC
/// and PIT go back to what a freshly built VM has, and the guest then runs again from the reset
/// vector in the same VM.
@Suite(.enabled(if: HostRequirements.guests, "needs /dev/kvm and nasm (see the SKIP line)"), .serialized)
struct ProcessorResetTests {
    @Test func pausedGuestStartsAgainFromTheResetVector() throws {
        let image = try GuestImages.image("snapshot")
        let m = try SnapshotMachine()
        try m.loadFirmware(image, boot: 2)
        try m.start()
        #expect(SnapshotMachine.waitUntil { (m.progress.last ?? 0) >= 200 }, "the guest never counted to 200: \(m.uart.text)")
        #expect(m.accelerator.pause())
        let before = m.progress.all.count
        let limits = try KVMStateLimits(system: m.accelerator.system)
        let running = try KVMSavedState(records: try m.accelerator.saveProcessorState(), vcpuCount: 2, limits: limits)
        #expect(running.vm.ioapicRedirection(pin: 5) == 0x0001_A035, "the guest programmed the IOAPIC")
        try m.accelerator.resetProcessors(boot: .powerOn)

        // What a fresh VM holds before its first run.
        let fresh = try SnapshotMachine()
        try fresh.loadFirmware(image, boot: 2)
        let expected = try KVMSavedState(records: try fresh.accelerator.saveProcessorState(), vcpuCount: 2, limits: limits)
        let reset = try KVMSavedState(records: try m.accelerator.saveProcessorState(), vcpuCount: 2, limits: limits)
        for (a, b) in zip(expected.vcpus, reset.vcpus) {
            #expect(a.regs == b.regs && a.sregs == b.sregs, "vCPU \(a.id) registers: \(String(describing: b.registers))")
            #expect(a.fpu == b.fpu && a.xcrs == b.xcrs && a.debugRegisters == b.debugRegisters, "vCPU \(a.id)")
            #expect(a.events == b.events && a.mpState == b.mpState, "vCPU \(a.id) MP state \(b.mpState)")
            for register in [0x20, 0xF0, 0x320, 0x350, 0x360, 0x380, 0x3E0] {
                #expect(a.lapicRegister(at: register) == b.lapicRegister(at: register), "vCPU \(a.id) LAPIC 0x\(String(register, radix: 16))")
            }
        }
        #expect(reset.vm.picMaster == expected.vm.picMaster && reset.vm.picSlave == expected.vm.picSlave)
        #expect(reset.vm.ioapic == expected.vm.ioapic)
        #expect(reset.vm.pitCount(channel: 0) == expected.vm.pitCount(channel: 0))
        #expect(reset.vm.clockNanoseconds >= running.vm.clockNanoseconds, "the clock went back")

        // Run again: the guest boots, counts from 1 and reports its own programming.
        m.accelerator.resume()
        let outcome = m.finish()
        #expect(outcome == .stopped(.guestExit(0)), "\(outcome): \(m.uart.text)")
        let after = Array(m.progress.all.dropFirst(before))
        #expect(after.first == 1 && after.last == 1000 && zip(after, after.dropFirst()).allSatisfy { $1 == $0 + 1 }, "\(after.prefix(5))…")
        #expect(m.uart.text == "counting\n" + ProcessorSnapshotTests.expectedReport)
    }

    @Test func resettingRunningProcessorsIsRefused() throws {
        let m = try SnapshotMachine(step: StepPort(step: 0))  // counts forever
        try m.loadFirmware(try GuestImages.image("snapshot"), boot: 1)
        try m.start()
        #expect(SnapshotMachine.waitUntil { m.progress.last != nil })
        #expect(throws: KVMError.notPaused(state: "running")) { try m.accelerator.resetProcessors(boot: .powerOn) }
        m.accelerator.stop(.host)
        #expect(m.finish() == .stopped(.host))
        #expect(throws: KVMError.notPaused(state: "stopped: the run has ended")) { try m.accelerator.resetProcessors(boot: .powerOn) }
    }
}
