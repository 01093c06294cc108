import DeviceModel
import Testing

@testable import KVMGlue

/// Pure parts of the KVM backend: memory layout, firmware placement, entry states, CPUID, routes.
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

    @Test func firmwareEndsAtFourGiBAndItsTailAtOneMiB() throws {
        let big = try FirmwareImage(bytes: [UInt8](repeating: 0, count: 256 << 10), name: "bios-256k")
        #expect(big.highRange == AddressRange(base: 0xFFFC_0000, length: 256 << 10)!)
        #expect(big.legacyRange == AddressRange(base: 0xE0000, length: 128 << 10)!)
        let small = try FirmwareImage(bytes: [UInt8](repeating: 0, count: 4096), name: "guest")
        #expect(small.legacyRange == AddressRange(base: 0xFF000, length: 4096)!)
        #expect(throws: KVMError.invalidFirmware(path: "empty", reason: "the image is empty")) {
            try FirmwareImage(bytes: [], name: "empty")
        }
        #expect(throws: KVMError.self) { try FirmwareImage(path: "/nonexistent/bios.bin") }
        #expect(throws: KVMError.self) { try FirmwareImage(path: "/") }
    }

    @Test func firmwareTailIsCopiedBelowOneMiB() throws {
        // The copy half of FirmwareImage.load, checked against plain memory.
        let ram = try MappedGuestMemory.anonymous([(guestBase: 0, length: 1 << 20)])
        var bytes = [UInt8](repeating: 0, count: 256 << 10)
        bytes[(128 << 10)] = 0x5A  // first byte of the last 128 KiB
        bytes[bytes.count - 16] = 0xEA  // reset vector
        let image = try FirmwareImage(bytes: bytes, name: "t")
        try ram.writeBytes(bytes.suffix(Int(image.legacyRange.length)), at: image.legacyRange.base)
        #expect(try ram.read(UInt8.self, at: 0xE0000) == 0x5A)
        #expect(try ram.read(UInt8.self, at: 0xFFFF0) == 0xEA)
    }

    @Test func powerOnStateStartsAtTheResetVector() {
        var dirty = VCPURegisters()
        dirty.rip = 0x1234
        dirty.cr0 = 0x8000_0011
        dirty.efer = 0x500
        let r = RealModeReset.registers(from: dirty)
        #expect(r.cs.selector == 0xF000 && r.cs.base == 0xFFFF_0000 && r.rip == 0xFFF0)
        #expect(r.linearRIP == RealModeReset.resetVector)
        #expect(r.cr0 == 0x6000_0010 && r.efer == 0 && r.rflags == 2)
    }

    @Test func longModeTablesIdentityMapFourGiB() throws {
        let ram = try MappedGuestMemory.anonymous([(guestBase: 0, length: 1 << 20)])
        let entry = LongModeEntry(entryPoint: 0x100_0000, stackPointer: 0x8_0000, bootParams: 0x7000)
        try entry.writeTables(to: ram)
        // Walk the tables for a few addresses as the MMU would.
        for address: UInt64 in [0, 0x20_0000, 0x1234_5678, 0xFFFF_FFFF] {
            let pml4e = try ram.read(UInt64.self, at: entry.pageTableAddress + ((address >> 39) & 0x1FF) * 8)
            #expect(pml4e & 1 == 1)
            let pdpte = try ram.read(UInt64.self, at: (pml4e & ~0xFFF) + ((address >> 30) & 0x1FF) * 8)
            #expect(pdpte & 1 == 1)
            let pde = try ram.read(UInt64.self, at: (pdpte & ~0xFFF) + ((address >> 21) & 0x1FF) * 8)
            #expect(pde & 0x81 == 0x81, "2 MiB page present")
            #expect((pde & ~0x1F_FFFF & 0xF_FFFF_FFFF_F000) | (address & 0x1F_FFFF) == address)
        }
        #expect(try ram.read(UInt64.self, at: entry.gdtAddress + 0x10) == 0x00AF_9B00_0000_FFFF)
        let r = entry.registers(from: VCPURegisters())
        #expect(r.cs.selector == 0x10 && r.cs.l && !r.cs.db)
        #expect(r.ds.selector == 0x18 && r.ss.selector == 0x18)
        #expect(r.cr0 & 0x8000_0001 == 0x8000_0001 && r.cr4 & 0x20 != 0 && r.efer == 0x500)
        #expect(r.rip == 0x100_0000 && r.rsi == 0x7000 && r.rflags & 0x200 == 0)
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
