import DeviceModel
import Testing

@testable import KVMGlue

/// `/dev/kvm` itself: version, capabilities, CPUID, memory slots, routing.
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
        try vcpu.resetToPowerOnState()
        let r = try vcpu.registers()
        #expect(r.linearRIP == RealModeReset.resetVector)
        #expect(throws: KVMError.self) { try vm.createVCPU(id: 0) }
        #expect(throws: KVMError.self) { try vm.createVCPU(id: -1) }
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

        // irqfd-backed MSIs: one route per message, the least recently used one evicted.
        let viaIrqfd = KVMIrqfdMSIController(routing: routing, capacity: 2)
        let m1 = MSIMessage(address: 0xFEE0_0000, data: 0x50)
        let m2 = MSIMessage(address: 0xFEE0_0000, data: 0x51)
        let m3 = MSIMessage(address: 0xFEE0_0000, data: 0x52)
        try viaIrqfd.signal(m1)
        try viaIrqfd.signal(m2)
        try viaIrqfd.signal(m1)
        try viaIrqfd.signal(m3)
        #expect(viaIrqfd.routedMessages == [m1, m3])
        #expect(routing.routes.filter { if case .msi = $0 { true } else { false } }.count == 4, "0x31, 0x33, and the routes of m1 and m3")
    }
}
