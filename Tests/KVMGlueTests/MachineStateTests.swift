import CKVM
import DeviceModel
import Testing
import X86Machine

@testable import KVMGlue

/// Pure parts of the KVM backend: memory layout, loading entry states, CPUID, routes. (Firmware
/// placement and the entry states themselves are X86Machine's, tested in X86MachineTests.)
struct MachineStateTests {
    @Test func smallRAMLiesBelowTheHole() throws {
        let l = try GuestRAMLayout(size: 512 << 20)
        #expect(l.ranges == [AddressRange(base: 0, length: 512 << 20)!])
        #expect(l.belowFourGiB == 512 << 20 && l.aboveFourGiB == 0)
    }

    @Test func largeRAMContinuesAboveFourGiB() throws {
        let l = try GuestRAMLayout(size: 4 << 30)
        #expect(l.ranges == [AddressRange(base: 0, length: 3 << 30)!, AddressRange(base: 4 << 30, length: 1 << 30)!])
        let custom = try GuestRAMLayout(size: 3 << 30, lowMemoryLimit: 0x8000_0000)
        #expect(custom.belowFourGiB == 0x8000_0000 && custom.aboveFourGiB == 1 << 30)
    }

    @Test func badLayoutsAreRejectedWithTheValue() {
        #expect(throws: KVMError.self) { try GuestRAMLayout(size: 4096) }
        #expect(throws: KVMError.self) { try GuestRAMLayout(size: (64 << 20) + 1) }
        #expect(throws: KVMError.self) { try GuestRAMLayout(size: 1 << 30, lowMemoryLimit: 0xFF00_0000) }
        #expect(throws: KVMError.self) { try GuestRAMLayout(size: .max - 4095) }
        do {
            _ = try GuestRAMLayout(size: 12345)
        } catch {
            #expect("\(error)".contains("12345"))
        }
    }

    /// Loading an entry state merges it into KVM's special registers: the APIC base and pending
    /// interrupts, which X86CPUState does not carry, survive; everything it carries round-trips.
    @Test func cpuStateMergesIntoKVMSpecialRegisters() {
        var sregs = kvm_sregs()
        sregs.apic_base = 0xFEE0_0900
        sregs.interrupt_bitmap.0 = 1 << 32
        let state = LongModeEntry(entryPoint: 0x100_0000, stackPointer: 0x8_0000, bootParams: 0x7000).cpuState
        state.apply(to: &sregs)
        #expect(sregs.apic_base == 0xFEE0_0900 && sregs.interrupt_bitmap.0 == 1 << 32)
        #expect(sregs.cs.l == 1 && sregs.cs.selector == 0x10 && sregs.efer == 0x500)
        #expect(sregs.cr3 == LinuxBootAddresses.pageTables && sregs.gdt.base == LinuxBootAddresses.gdt)
        #expect(state.rawRegs.rip == 0x100_0000 && state.rawRegs.rsi == 0x7000)
        #expect(X86CPUState(regs: state.rawRegs, sregs: sregs) == state)

        var reset = sregs
        X86CPUState.powerOn.apply(to: &reset)
        #expect(reset.apic_base == 0xFEE0_0900 && reset.efer == 0 && reset.cs.base == 0xFFFF_0000)
        #expect(X86CPUState(regs: X86CPUState.powerOn.rawRegs, sregs: reset) == .powerOn)
    }

    @Test func cpuidCarriesTheAPICIDPerVCPU() {
        let table = CPUIDTable(entries: [
            CPUIDEntry(function: 0, eax: 0xD, ebx: 0x6874_7541, ecx: 0x444D_4163, edx: 0x6974_6E65),
            CPUIDEntry(function: 1, eax: 0x800F12, ebx: 0x0000_0800, ecx: 0, edx: 0),
            CPUIDEntry(function: 0xB, index: 0, flags: 1, eax: 0, ebx: 1, ecx: 0x100, edx: 0),
            CPUIDEntry(function: 0x4000_0000, eax: 0x4000_0001, ebx: 0x4B4D_564B, ecx: 0x564B_4D56, edx: 0x4D),
        ])
        let t = table.forVCPU(1, of: 2)
        let leaf1 = t.entry(function: 1)!
        #expect(leaf1.ebx >> 24 == 1 && (leaf1.ebx >> 16) & 0xFF == 2 && leaf1.ebx & 0xFFFF == 0x0800)
        #expect(leaf1.edx & (1 << 28) != 0 && leaf1.ecx & (1 << 31) != 0)
        #expect(t.entry(function: 0xB)!.edx == 1)
        #expect(table.hypervisorSignature == "KVMKVMKVM")
        // TSC-deadline mode goes into leaf 1 ECX[24] only; nothing else changes.
        let deadline = table.withTSCDeadlineTimer()
        #expect(deadline.entry(function: 1)!.ecx == 1 << 24)
        #expect(deadline.entries.filter { $0.function != 1 } == table.entries.filter { $0.function != 1 })
    }

    @Test func defaultRoutesMatchTheKernels() {
        let routes = KVMGSIRouting.kernelDefaultRoutes
        #expect(routes.count == 24 + 16)
        #expect(routes.contains(.irqchip(gsi: 4, chip: .ioapic, pin: 4)))
        #expect(routes.contains(.irqchip(gsi: 4, chip: .picMaster, pin: 4)))
        #expect(routes.contains(.irqchip(gsi: 14, chip: .picSlave, pin: 6)))
        #expect(routes.contains(.irqchip(gsi: 23, chip: .ioapic, pin: 23)))
        #expect(!routes.contains { $0.gsi >= 24 })
    }

    @Test func pcRoutesSendThePITToPinTwo() {
        let routes = KVMGSIRouting.pcCompatibleRoutes
        #expect(routes.contains(.irqchip(gsi: 0, chip: .ioapic, pin: 2)))
        #expect(routes.contains(.irqchip(gsi: 0, chip: .picMaster, pin: 0)))
        #expect(!routes.contains { $0.gsi == 2 })
        #expect(routes.contains(.irqchip(gsi: 4, chip: .ioapic, pin: 4)))
        #expect(routes.count == 23 + 15)
    }

    @Test func errorsNameTheOffendingValue() {
        #expect("\(KVMError.cannotOpen(path: "/dev/kvm", errno: 2))".contains("no KVM on this host"))
        #expect("\(KVMError.cannotOpen(path: "/dev/kvm", errno: 13))".contains("permission denied"))
        #expect("\(KVMError.apiVersionMismatch(found: 11, expected: 12))".contains("11"))
        #expect("\(KVMError.missingCapability(.irqfd))" == "KVM lacks required capability KVM_CAP_IRQFD")
        let e = VCPUError.internalError(vcpu: 1, suberror: 1, data: [0x1, 0xCC0F], registers: nil)
        #expect("\(e)" == "vCPU 1: instruction emulation failed [0x1 0xcc0f]")
    }

    @Test func openingAMissingDeviceFailsClearly() {
        #expect(throws: KVMError.cannotOpen(path: "/nonexistent/kvm", errno: 2)) {
            try KVMSystem(path: "/nonexistent/kvm")
        }
    }
}
