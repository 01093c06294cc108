import DeviceModel
import SwiftdmTestSupport
import Testing
import X86Machine

@testable import KVMGlue

/// `/dev/kvm` itself: version, capabilities, CPUID, memory slots, loading entry states, routing.
@Suite(.enabled(if: HostRequirements.kvm, "needs /dev/kvm (see the SKIP line)"))
struct KVMSystemTests {
    @Test func opensAndReportsCapabilities() throws {
        let kvm = try KVMSystem()
        for cap in KVMCapability.required { #expect(kvm.supports(cap), "\(cap)") }
        #expect(kvm.vcpuMmapSize >= 4096)
        #expect(kvm.maxVCPUs >= 1)
        let cpuid = try kvm.supportedCPUID()
        #expect(cpuid.entry(function: 0) != nil)
        #expect(cpuid.entry(function: 1) != nil)
    }

    @Test func vmSetupAndMemorySlots() throws {
        let kvm = try KVMSystem()
        let vm = try kvm.createVM()
        try vm.setupX86Platform()
        #expect(vm.hasIRQChip)
        // A second irqchip is refused by the kernel and reported, not fatal.
        #expect(throws: KVMError.self) { try vm.createIRQChip() }
        let ram = try vm.mapRAM(try GuestRAMLayout(size: 8 << 20))
        try ram.write(UInt32(0xAABB_CCDD), at: 0x1000)
        #expect(try ram.read(UInt32.self, at: 0x1000) == 0xAABB_CCDD)
        // Overlapping an existing slot fails with the slot and range in the message.
        let rom = try vm.mapROM([UInt8](repeating: 0x90, count: 4096), endingAt: 1 << 32)
        #expect(rom.guestBase == 0xFFFF_F000)
        do {
            _ = try vm.mapROM([1], endingAt: 0x2000)
            Issue.record("overlapping ROM accepted")
        } catch {
            #expect("\(error)".contains("KVM_SET_USER_MEMORY_REGION"))
        }
        let vcpu = try vm.createVCPU(id: 0)
        try vcpu.setRegisters(.powerOn)
        let r = try vcpu.registers()
        #expect(r.linearRIP == X86CPUState.resetVector)
        #expect(throws: KVMError.self) { try vm.createVCPU(id: 0) }
        #expect(throws: KVMError.self) { try vm.createVCPU(id: -1) }
    }

    /// Both entry states load into a real vCPU and read back as X86Machine built them, and a vCPU
    /// left in long mode goes back to the reset vector.
    @Test func entryStatesLoadIntoAVCPU() throws {
        let kvm = try KVMSystem()
        let vm = try kvm.createVM()
        try vm.setupX86Platform()
        let vcpu = try vm.createVCPU(id: 0)
        let entry = LongModeEntry(entryPoint: 0x10_0000, stackPointer: 0x8_0000, bootParams: 0x7000).cpuState
        try vcpu.setRegisters(entry)
        let long = try vcpu.registers()
        #expect(long.rip == 0x10_0000 && long.rsp == 0x8_0000 && long.rsi == 0x7000)
        #expect(long.cs.l && long.cs.selector == LongModeEntry.codeSelector && long.ss.selector == LongModeEntry.dataSelector)
        #expect(long.cr0 == entry.cr0 && long.cr3 == entry.cr3 && long.cr4 == entry.cr4 && long.efer == entry.efer)
        #expect(long.gdt == entry.gdt)

        try vcpu.setRegisters(.powerOn)
        let reset = try vcpu.registers()
        #expect(reset.linearRIP == X86CPUState.resetVector && reset.efer == 0 && reset.cr0 == X86CPUState.powerOn.cr0)
        #expect(reset.cs.selector == 0xF000 && reset.cs.base == 0xFFFF_0000 && reset.rsp == 0 && reset.rsi == 0)
    }

    /// The firmware ROM slot sits where X86Machine placed the image and refuses a second one there.
    @Test func firmwareMapsAtItsPlacement() throws {
        let kvm = try KVMSystem()
        let vm = try kvm.createVM()
        try vm.setupX86Platform()
        _ = try vm.mapRAM(try GuestRAMLayout(size: 2 << 20))
        let image = try FirmwareImage(bytes: [UInt8](repeating: 0x90, count: 64 << 10), name: "nops")
        let rom = try vm.mapFirmware(image)
        #expect(rom.guestBase == image.highRange.base && rom.length == image.highRange.length)
        #expect(rom.guestBase + rom.length == 1 << 32)
        #expect(throws: KVMError.self) { try vm.mapFirmware(image) }
    }

    @Test func routingTableAndIrqfds() throws {
        let kvm = try KVMSystem()
        let vm = try kvm.createVM()
        try vm.setupX86Platform()
        let routing = KVMGSIRouting(vm: vm, irqchipRoutes: KVMGSIRouting.pcCompatibleRoutes)
        try routing.install()
        let a = try routing.addMSIRoute(MSIMessage(address: 0xFEE0_0000, data: 0x30))
        let b = try routing.addMSIRoute(MSIMessage(address: 0xFEE0_0000, data: 0x31))
        #expect(a == 24 && b == 25)
        try routing.updateMSIRoute(gsi: a, to: MSIMessage(address: 0xFEE0_1000, data: 0x32))
        #expect(routing.routes.contains(.msi(gsi: 24, message: MSIMessage(address: 0xFEE0_1000, data: 0x32))))
        try routing.removeMSIRoute(gsi: a)
        #expect(throws: KVMError.self) { try routing.removeMSIRoute(gsi: a) }
        #expect(try routing.addMSIRoute(MSIMessage(address: 0xFEE0_0000, data: 0x33)) == a, "freed GSI reused")
        do {
            let route = try routing.makeMSIRoute(MSIMessage(address: 0xFEE0_0000, data: 0x34))
            try route.signal()
            try route.update(MSIMessage(address: 0xFEE0_0000, data: 0x35))
        }
        #expect(!routing.routes.contains { $0.gsi == 26 }, "released route removed")
        let lines = KVMInterruptLines(vm: vm)
        try lines.line(gsi: 4).pulse()
        #expect(throws: InterruptError.invalidLine(24)) { try lines.line(gsi: 24) }
        _ = try vm.createVCPU(id: 0)  // an MSI needs a LAPIC to go to
        try KVMMSIController(vm: vm).signal(MSIMessage(address: 0xFEE0_0000, data: 0x40))

        // Per-vector routes: each an irqfd on its own GSI, repointed in place, gone when released.
        let viaIrqfd = KVMIrqfdMSIController(routing: routing)
        let msiRoutes = { routing.routes.filter { if case .msi = $0 { true } else { false } } }
        do {
            let v0 = try #require(try viaIrqfd.makeVectorRoute(MSIMessage(address: 0xFEE0_0000, data: 0x50)))
            let v1 = try #require(try viaIrqfd.makeVectorRoute(MSIMessage(address: 0xFEE0_0000, data: 0x51)))
            try v0.signal()
            try v1.update(MSIMessage(address: 0xFEE0_1000, data: 0x52))
            try v1.signal()
            #expect(msiRoutes().count == 4, "0x31, 0x33, and the two vectors' routes")
            #expect(msiRoutes().contains { if case .msi(_, MSIMessage(address: 0xFEE0_1000, data: 0x52)) = $0 { true } else { false } })
        }
        #expect(msiRoutes().count == 2, "released vector routes removed")
        try viaIrqfd.signal(MSIMessage(address: 0xFEE0_0000, data: 0x53))
        #expect(msiRoutes().count == 2, "a one-off message needs no route")
    }
}
