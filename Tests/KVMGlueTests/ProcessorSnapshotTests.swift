import DeviceModel
import Foundation
import KVMGlue
import SwiftdmTestSupport
import Testing
import X86Machine

/// Processor state on real KVM: a counting guest paused, saved with its RAM, and continued in a
/// second VM (as a new process would); state that round-trips through the kernel; refusals.
@Suite(.enabled(if: HostRequirements.guests, "needs /dev/kvm and nasm (see the SKIP line)"), .serialized)
struct ProcessorSnapshotTests {
    static let expectedReport = """
        counting
        count 000003E8 memory 000003E8
        lvt timer 00030030 initial 7FFFFFFF divide 00000003
        ioapic pin 5 0001A035 pic imr 000000FB

        """

    /// Runs the snapshot guest on `vcpus` vCPUs until it has counted to at least `pauseAt`, pauses
    /// it and returns the machine (still paused), its records and a copy of its RAM.
    func pausedGuest(vcpus: Int = 2, pauseAt: UInt32 = 200) throws -> (SnapshotMachine, [DeviceStateRecord], [UInt8]) {
        let m = try SnapshotMachine()
        try m.loadFirmware(try GuestImages.image("snapshot"), boot: vcpus)
        try m.start()
        #expect(SnapshotMachine.waitUntil { (m.progress.last ?? 0) >= pauseAt }, "the guest never counted to \(pauseAt): \(m.uart.text)")
        #expect(m.accelerator.pause())
        let records = try m.accelerator.saveProcessorState()
        let ram = try m.ram.readBytes(at: 0, count: Int(SnapshotMachine.memorySize))
        return (m, records, ram)
    }

    /// The guest is paused while its vCPU handles the `in` of step `pauseRead` (which reads 7,
    /// not 1): KVM stores that 7 in EAX only when the vCPU enters KVM_RUN again, so the pause must
    /// let it do that before the registers are saved. The new VM then goes on at
    /// `pauseRead - 1 + 7`; had the `in` been left pending, the new VM would execute it again
    /// (reading 1, and the device a second time).
    @Test func countingGuestContinuesInANewVM() throws {
        let image = try GuestImages.image("snapshot")
        let pauseRead = 200
        let inExit = DispatchSemaphore(value: 0)
        let first = try SnapshotMachine(step: StepPort(special: .init(read: pauseRead, value: 7) {
            inExit.signal()
            usleep(100_000)  // the pause's kick arrives while this exit is being handled
        }))
        try first.loadFirmware(image, boot: 2)
        try first.start()
        #expect(inExit.wait(timeout: .now() + 60) == .success, "the guest never read step \(pauseRead): \(first.uart.text)")
        #expect(first.accelerator.pause())
        let records = try first.accelerator.saveProcessorState()
        let ram = try first.ram.readBytes(at: 0, count: Int(SnapshotMachine.memorySize))
        let stoppedAt = try #require(first.progress.last)
        #expect(stoppedAt == UInt32(pauseRead - 1), "the guest went on past the read it was paused in")
        usleep(50_000)
        #expect(first.progress.last == stoppedAt, "a paused guest went on counting")
        first.accelerator.stop(.host)
        #expect(first.finish() == .stopped(.host))
        #expect(first.step.reads == pauseRead)

        // Through the archive format, as a snapshot file carries them.
        let archived = try DeviceStateArchive(decoding: DeviceStateArchive(records: records).encoded()).records
        let saved = try KVMSavedState(records: archived, vcpuCount: 2, limits: try KVMStateLimits(system: first.accelerator.system))
        #expect(saved.vcpus[1].mpState == 1, "the AP never got INIT/SIPI")
        #expect(saved.vm.pitCount(channel: 0) == 0x1234)
        #expect(saved.vm.ioapicRedirection(pin: 5) == 0x0001_A035)
        #expect(saved.vm.picIMR() == 0xFB && saved.vm.picIMR(slave: true) == 0xBF)
        #expect(saved.vcpus[0].lapicRegister(at: 0x320) == 0x0003_0030)
        let regs = try #require(saved.vcpus[0].registers)
        #expect(regs.rax & 0xFFFF_FFFF == 7, "the pending in's value is in EAX: \(regs)")

        let second = try SnapshotMachine()
        try second.ram.writeBytes(ram, at: 0)
        try second.loadFirmware(image, boot: nil)
        try second.accelerator.createProcessors(count: 2, restoring: archived)

        // Before it runs, the new VM holds what was saved.
        let reread = try KVMSavedState(
            records: try second.accelerator.saveProcessorState(), vcpuCount: 2, limits: try KVMStateLimits(system: second.accelerator.system))
        for (a, b) in zip(saved.vcpus, reread.vcpus) {
            #expect(a.regs == b.regs && a.sregs == b.sregs && a.fpu == b.fpu && a.xcrs == b.xcrs, "vCPU \(a.id)")
            #expect(a.events == b.events && a.mpState == b.mpState && a.debugRegisters == b.debugRegisters, "vCPU \(a.id)")
            #expect(a.cpuid == b.cpuid, "vCPU \(a.id)")
            for register in [0x20, 0xF0, 0x320, 0x380, 0x3E0] {
                #expect(a.lapicRegister(at: register) == b.lapicRegister(at: register), "vCPU \(a.id) LAPIC 0x\(String(register, radix: 16))")
            }
            #expect(a.msrs.map(\.index) == b.msrs.map(\.index))
            // The TSC goes on from the saved value (a new vCPU's would start near 0).
            let tsc = try #require(a.msr(0x10))
            let restoredTSC = try #require(b.msr(0x10))
            #expect(restoredTSC >= tsc && restoredTSC - tsc < 1 << 40, "TSC 0x\(String(tsc, radix: 16)) → 0x\(String(restoredTSC, radix: 16))")
            let changed = zip(a.msrs, b.msrs).filter { $0.0 != $0.1 && $0.0.index != 0x10 }
            #expect(changed.isEmpty, "MSRs changed by the restore: \(changed)")
        }
        #expect(reread.vm.picMaster == saved.vm.picMaster && reread.vm.picSlave == saved.vm.picSlave)
        #expect(reread.vm.ioapic == saved.vm.ioapic)
        #expect(reread.vm.pitCount(channel: 0) == 0x1234)
        #expect(reread.vm.clockNanoseconds == saved.vm.clockNanoseconds, "the clock waits for start")

        try second.start()
        let outcome = second.finish()
        #expect(outcome == .stopped(.guestExit(0)), "\(outcome): \(second.uart.text)")
        let values = second.progress.all
        let resumedAt = stoppedAt + 7
        #expect(values.first == resumedAt, "the counter went on from \(values.first.map(String.init) ?? "nothing"), not \(resumedAt)")
        #expect(values.last == 1000 && zip(values, values.dropFirst()).allSatisfy { $1 == $0 + 1 }, "the counter skipped or repeated")
        #expect(second.step.reads == 1000 - Int(resumedAt), "the paused in was executed again")
        // The report only: "counting" was printed by the first VM.
        #expect(second.uart.text == Self.expectedReport.replacingOccurrences(of: "counting\n", with: ""))
        #expect(first.uart.text == "counting\n")
    }

    /// A 64-bit guest (paging, EFER.LMA, a long-mode CS) paused in the middle of a UART line and
    /// continued in a second VM: the line goes on with the next character, and the guest's later
    /// write through its page tables lands in the new VM's RAM.
    @Test func longModeGuestContinuesInANewVM() throws {
        let image = try GuestImages.image("longmode")
        let inLine = DispatchSemaphore(value: 0)
        let first = try SnapshotMachine(memory: 1 << 31, uart: HookedUART(hookAt: 10) {
            inLine.signal()
            usleep(100_000)
        })
        try first.ram.writeBytes(image, at: 0x10_0000)
        let entry = LongModeEntry(entryPoint: 0x10_0000, stackPointer: 0x8_0000, bootParams: 0x7000)
        try entry.writeTables(to: first.ram)
        try first.accelerator.createProcessors(count: 1, boot: entry.cpuState)
        try first.start()
        #expect(inLine.wait(timeout: .now() + 60) == .success, "the guest never wrote 10 bytes: \(first.uart.text)")
        #expect(first.accelerator.pause())
        let records = try first.accelerator.saveProcessorState()
        // The image, stack and tables lie in the first 2 MiB; the rest is untouched.
        let low = try first.ram.readBytes(at: 0, count: 2 << 20)
        first.accelerator.stop(.host)
        #expect(first.finish() == .stopped(.host))
        #expect(first.uart.text == "long mode ")

        let saved = try KVMSavedState(records: records, vcpuCount: 1, limits: try KVMStateLimits(system: first.accelerator.system))
        let registers = try #require(saved.vcpus[0].registers)
        #expect(registers.efer & 0x500 == 0x500 && registers.cs.l, "not in long mode: \(registers)")

        let second = try SnapshotMachine(memory: 1 << 31)
        try second.ram.writeBytes(low, at: 0)
        try second.accelerator.createProcessors(count: 1, restoring: records)
        try second.start()
        let outcome = second.finish()
        #expect(outcome == .stopped(.guestExit(0)), "\(outcome): \(second.uart.text)")
        #expect(first.uart.text + second.uart.text == "long mode cs 00000010\nrsi 00007000\nmem 600DF00D\n")
        #expect(try second.ram.read(UInt32.self, at: 0x4000_0008) == 0x600D_F00D)
    }

    /// The LAPIC timer keeps counting down from where it was, not from its initial count.
    @Test func lapicTimerContinuesFromItsCurrentCount() throws {
        let (first, records, _) = try pausedGuest(vcpus: 1, pauseAt: 100)
        first.accelerator.stop(.host)
        _ = first.finish()
        let limits = try KVMStateLimits(system: first.accelerator.system)
        let saved = try KVMSavedState(records: records, vcpuCount: 1, limits: limits).vcpus[0]
        let current = saved.lapicRegister(at: 0x390)
        #expect(current > 0 && current < 0x7FFF_FFFF, "the timer is not running: current count 0x\(String(current, radix: 16))")
        usleep(20_000)
        let second = try SnapshotMachine()
        try second.accelerator.createProcessors(count: 1, restoring: records)
        let restored = try KVMSavedState(records: try second.accelerator.saveProcessorState(), vcpuCount: 1, limits: limits).vcpus[0]
        let now = restored.lapicRegister(at: 0x390)
        #expect(now <= current && now > 0, "current count 0x\(String(current, radix: 16)) became 0x\(String(now, radix: 16))")
    }

    /// The saved kvmclock is what the restored VM's clock continues from (here an hour ahead,
    /// which no fresh VM could show).
    @Test func restoredClockContinuesFromTheSavedTime() throws {
        let (first, records, ram) = try pausedGuest(vcpus: 1, pauseAt: 50)
        first.accelerator.stop(.host)
        _ = first.finish()
        let hour: UInt64 = 3_600_000_000_000
        let saved = try #require(records.first { $0.id == "kvm/vm" }).unsigned("clock-ns")
        let shifted = records.map { r -> DeviceStateRecord in
            guard r.id == "kvm/vm" else { return r }
            var r = r
            r.set("clock-ns", saved + hour)
            return r
        }
        let second = try SnapshotMachine()
        try second.ram.writeBytes(ram, at: 0)
        try second.loadFirmware(try GuestImages.image("snapshot"), boot: nil)
        try second.accelerator.createProcessors(count: 1, restoring: shifted)
        #expect(try second.accelerator.vm.clock() < hour, "the clock is set at start, not at restore")
        try second.start()
        #expect(try second.accelerator.vm.clock() >= saved + hour)
        #expect(second.finish() == .stopped(.guestExit(0)))
    }

    /// While the machine is stopped the guest's kvmclock stands still, as on QEMU: `pause()`
    /// reads it (`KVM_GET_CLOCK`), `resume()` sets it back (`KVM_SET_CLOCK`), and a snapshot of
    /// the paused machine saves the value of the pause, not of the save.
    @Test func clockStandsStillWhilePaused() throws {
        let m = try SnapshotMachine(step: StepPort(step: 0))  // counts forever
        try m.loadFirmware(try GuestImages.image("snapshot"), boot: 1)
        try m.start()
        #expect(SnapshotMachine.waitUntil { m.progress.last != nil })
        #expect(m.accelerator.pause())
        let paused = Int64(try m.accelerator.vm.clock())
        usleep(1_000_000)
        let limits = try KVMStateLimits(system: m.accelerator.system)
        let saved = Int64(try KVMSavedState(records: try m.accelerator.saveProcessorState(), vcpuCount: 1, limits: limits).vm.clockNanoseconds)
        #expect(saved <= paused && paused - saved < 400_000_000, "saved \(saved) ns, the clock read \(paused) ns at the pause")
        m.accelerator.resume()
        let resumed = Int64(try m.accelerator.vm.clock())
        #expect(resumed - paused < 400_000_000, "the guest's clock counted the 1 s pause: \(paused) → \(resumed) ns")
        // A second pause after the first: the clock went on from where the first left it.
        #expect(m.accelerator.pause())
        let second = Int64(try m.accelerator.vm.clock())
        #expect(second >= resumed)
        m.accelerator.resume()
        m.accelerator.stop(.host)
        #expect(m.finish() == .stopped(.host))
    }

    @Test func savingWhileRunningIsRefused() throws {
        let m = try SnapshotMachine(step: StepPort(step: 0))  // counts forever
        try m.loadFirmware(try GuestImages.image("snapshot"), boot: 1)
        try m.start()
        #expect(SnapshotMachine.waitUntil { m.progress.last != nil })
        #expect(throws: KVMError.notPaused(state: "running")) { try m.accelerator.saveProcessorState() }
        #expect(m.accelerator.pause())
        _ = try m.accelerator.saveProcessorState()
        m.accelerator.resume()
        #expect(throws: KVMError.notPaused(state: "running")) { try m.accelerator.saveProcessorState() }
        m.accelerator.stop(.host)
        #expect(m.finish() == .stopped(.host))
        #expect(throws: KVMError.notPaused(state: "stopped: the run has ended")) { try m.accelerator.saveProcessorState() }
    }

    /// Records of the wrong shape are refused before anything reaches KVM; values the kernel
    /// refuses are an error naming the ioctl; neither crashes.
    @Test func badRecordsAreRefused() throws {
        let (first, records, _) = try pausedGuest(vcpus: 1, pauseAt: 20)
        first.accelerator.stop(.host)
        _ = first.finish()

        func restoring(_ change: (inout DeviceStateRecord) -> Void, id: String = "kvm/vcpu0", count: Int = 1) throws {
            let m = try SnapshotMachine()
            let changed = records.map { r -> DeviceStateRecord in
                guard r.id == id else { return r }
                var r = r
                change(&r)
                return r
            }
            try m.accelerator.createProcessors(count: count, restoring: changed)
        }
        #expect(throws: DeviceStateError.invalidValue(id: "kvm/vcpu0", field: "regs", value: "143 bytes", expected: "144 bytes")) {
            try restoring { $0.set("regs", bytes: [UInt8](repeating: 0, count: 143)) }
        }
        #expect(throws: DeviceStateError.invalidValue(id: "kvm/vm", field: "vcpu-count", value: "1", expected: "2, the machine's vCPU count")) {
            try restoring({ _ in }, count: 2)
        }
        #expect(throws: DeviceStateError.invalidValue(id: "kvm/vcpu0", field: "mp-state", value: "9", expected: "at most 4")) {
            try restoring { $0.set("mp-state", UInt64(9)) }
        }
        #expect(throws: DeviceStateError.invalidValue(
            id: "kvm/vcpu0", field: "msr-indices", value: "0xdead", expected: "an MSR this host's KVM saves (KVM_GET_MSR_INDEX_LIST)")
        ) {
            try restoring { r in
                var indices = (try? r.unsignedArray("msr-indices")) ?? []
                indices[0] = 0xDEAD
                r.set("msr-indices", .unsignedArray(indices))
            }
        }
        // An MSR value KVM refuses: IA32_ARCH_CAPABILITIES with bits this host cannot offer.
        let indices = try #require(records.first { $0.id == "kvm/vcpu0" }).unsignedArray("msr-indices")
        if let at = indices.firstIndex(of: 0x10A) {
            #expect(throws: KVMError.msrRefused(vcpu: 0, index: 0x10A, value: .max)) {
                try restoring { r in
                    var values = (try? r.unsignedArray("msr-values")) ?? []
                    values[at] = .max
                    r.set("msr-values", .unsignedArray(values))
                }
            }
        } else {
            print("SKIP: this host's KVM does not save IA32_ARCH_CAPABILITIES; the refused-MSR check did not run")
        }
        // Well-formed but impossible: pending-event flags KVM does not know.
        do {
            try restoring { $0.set("events", bytes: [UInt8](repeating: 0xFF, count: 64)) }
            Issue.record("KVM took vCPU events with every flag set")
        } catch let error as KVMError {
            guard case .ioctlFailed(let what, _) = error else { throw error }
            #expect(what.contains("KVM_SET_VCPU_EVENTS") && what.contains("vCPU 0"), "\(error)")
        }
    }
}
