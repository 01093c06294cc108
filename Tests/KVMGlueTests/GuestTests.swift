import DeviceModel
import Foundation
import KVMGlue
import Synchronization
import SwiftdmTestSupport
import Testing
import X86Machine

/// Freestanding guests from Tests/Guests run under KVMGlue; they report over the UART.
@Suite(.enabled(if: HostRequirements.guests, "needs /dev/kvm and nasm (see the SKIP line)"), .serialized)
struct GuestTests {
    @Test func portIO() throws {
        let m = try TestMachine()
        try m.loadFirmware(try GuestImages.image("portio"))
        let result = try m.run()
        #expect(result == .stopped(.guestExit(status: 0)), "\(result)")
        // 0x1000 + ... + 0x1007 = 0x801C; the next single `in` returns 0x1008.
        #expect(m.uart.text == "hello from the guest\ninsw sum 0000801C\nin 00001008\nunmapped FFFFFFFF\n")
        #expect(m.pattern.reads.load(ordering: .relaxed) == 9)
        #expect(m.nullPort.lastWrite.load(ordering: .relaxed) == 0xDEAD_BEEF)
        #expect(m.dispatcher.unmappedAccesses == 1)
    }

    @Test func mmio() throws {
        let m = try TestMachine()
        try m.loadFirmware(try GuestImages.image("mmio"))
        let result = try m.run()
        #expect(result == .stopped(.guestExit(status: 0)), "\(result)")
        #expect(m.uart.text == "mmio mismatches 00000000\nunmapped FFFFFFFF\n")
        let log = m.scratch.log
        #expect(log.prefix(3) == [
            .init(write: true, offset: 0x10, size: 1, value: 0xA5),
            .init(write: true, offset: 0x20, size: 2, value: 0xBEEF),
            .init(write: true, offset: 0x30, size: 4, value: 0x1234_5678),
        ])
        let stores = log.filter { $0.write && $0.offset >= 0x100 }
        #expect(stores.map(\.offset) == [0x100, 0x104, 0x108, 0x10C], "\(log)")
        #expect(stores.allSatisfy { $0.size == 4 && $0.value == 0xCAFE_F00D })
    }

    @Test func ioeventfd() throws {
        let m = try TestMachine()
        let registrar = KVMIOEventRegistrar(vm: m.vm, fallback: m.dispatcher.softwareIOEvents)
        let portNotifier = try EventNotifier()
        let mmioNotifier = try EventNotifier()
        try registrar.register(IOEventMatch(space: .port, address: TestMachine.notifyPort, size: 2, datamatch: 1), notifier: portNotifier)
        try registrar.register(IOEventMatch(space: .memory, address: TestMachine.notifyMMIO, size: 4), notifier: mmioNotifier)
        #expect(throws: IOEventError.duplicate(IOEventMatch(space: .port, address: TestMachine.notifyPort, size: 2, datamatch: 1))) {
            try registrar.register(IOEventMatch(space: .port, address: TestMachine.notifyPort, size: 2, datamatch: 1), notifier: portNotifier)
        }
        let portHandler = NullDevice()
        try m.dispatcher.ports.register(base: TestMachine.notifyPort, length: 2, name: "notify", handler: portHandler)
        try m.loadFirmware(try GuestImages.image("ioeventfd"))
        let result = try m.run()
        #expect(result == .stopped(.guestExit(status: 0)), "\(result)")
        #expect(m.uart.text == "notified\n")
        // Two matching writes were absorbed by the kernel; the non-matching one reached the handler.
        #expect(portNotifier.drain() == 2)
        #expect(mmioNotifier.drain() == 1)
        #expect(portHandler.accesses.load(ordering: .relaxed) == 1)
        #expect(portHandler.lastWrite.load(ordering: .relaxed) == 2)
        try registrar.unregister(IOEventMatch(space: .port, address: TestMachine.notifyPort, size: 2, datamatch: 1))
        #expect(throws: IOEventError.notRegistered(IOEventMatch(space: .port, address: TestMachine.notifyPort, size: 2, datamatch: 1))) {
            try registrar.unregister(IOEventMatch(space: .port, address: TestMachine.notifyPort, size: 2, datamatch: 1))
        }
    }

    /// One MSI through KVM_SIGNAL_MSI; one through an irqfd on a routed GSI, raised by an event
    /// loop that answers the guest's ioeventfd notify — the virtio notify/interrupt round trip.
    ///
    /// With `irqfdTrigger`, the first MSI also goes through an irqfd: a vector route of
    /// ``KVMIrqfdMSIController``, bound to the message before the guest runs.
    @Test(arguments: [false, true])
    func msiDelivery(irqfdTrigger: Bool) throws {
        let m = try TestMachine()
        let routing = KVMGSIRouting(vm: m.vm)
        let route = try routing.makeMSIRoute(MSIMessage(address: 0xFEE0_0000, data: 0x41))
        #expect(route.gsi == KVMGSIRouting.firstMSIGSI)
        let trigger: MSITriggerPort
        if irqfdTrigger {
            let vector = try #require(try KVMIrqfdMSIController(routing: routing).makeVectorRoute(MSIMessage(address: 0xFEE0_0000, data: 0x40)))
            trigger = MSITriggerPort(route: vector)
        } else {
            trigger = MSITriggerPort(msi: KVMMSIController(vm: m.vm))
        }
        try m.dispatcher.ports.register(base: 0x702, length: 1, name: "msi-trigger", handler: trigger)
        let notify = try EventNotifier()
        let registrar = KVMIOEventRegistrar(vm: m.vm)
        try registrar.register(IOEventMatch(space: .port, address: TestMachine.notifyPort, size: 2, datamatch: 1), notifier: notify)
        let loop = try EventLoop(name: "test-device")
        let raised = Atomic<Int>(0)
        let source = loop.watch(fd: notify.fd, for: .readable) { _ in
            notify.drain()
            raised.add(1, ordering: .relaxed)
            try? route.signal()
        }
        try m.loadFirmware(try GuestImages.image("msi"))
        let result = try m.run()
        source.cancel()
        loop.shutdown()
        #expect(result == .stopped(.guestExit(status: 0)), "\(result)")
        #expect(m.uart.text == "lapic enabled\nvector 40 after the trigger write\nvector 41 after the notify\ninterrupts done\n")
        #expect(raised.load(ordering: .relaxed) == 1)
        #expect(trigger.failures.load(ordering: .relaxed) == 0)
        if irqfdTrigger {
            #expect(routing.routes.contains(.msi(gsi: KVMGSIRouting.firstMSIGSI + 1, message: MSIMessage(address: 0xFEE0_0000, data: 0x40))))
        }
    }

    @Test func tripleFaultIsReportedWithRegisters() throws {
        let m = try TestMachine()
        try m.loadFirmware(try GuestImages.image("triplefault"))
        let result = try m.run()
        guard case .failed(.shutdown(let vcpu, let registers)) = result else {
            Issue.record("expected a shutdown, got \(result)")
            return
        }
        #expect(vcpu == 0)
        #expect(m.uart.text == "about to triple fault\n")
        // Protected mode with the flat code segment, stopped inside the guest's image.
        let r = try #require(registers)
        #expect(r.cr0 & 1 == 1)
        #expect(r.cs.selector == 0x08)
        #expect((0xFF000..<0x10_0000).contains(r.linearRIP), "\(r)")
        #expect("\(VMRunResult.failed(.shutdown(vcpu: vcpu, registers: registers)))".contains("triple fault"))
    }

    @Test func haltWithoutIRQChipIsReported() throws {
        let m = try TestMachine(irqchip: false)
        try m.loadFirmware(try GuestImages.image("halt"))
        let result = try m.run()
        guard case .failed(.halted(0, let registers)) = result else {
            Issue.record("expected a halt, got \(result)")
            return
        }
        #expect(m.uart.text == "halting\n")
        #expect((registers?.rflags ?? 0) & 0x200 == 0, "interrupts were disabled")
    }

    /// A halted BSP and an AP still waiting for SIPI both sit inside KVM_RUN; stop must kick both.
    @Test func stopKicksVCPUsBlockedInTheKernel() throws {
        let m = try TestMachine(vcpuCount: 2)
        try m.loadFirmware(try GuestImages.image("halt"))
        let runner = try VCPURunner(vcpus: m.vcpus, sink: m.dispatcher)
        m.slot.set(runner)
        try runner.start()
        // Wait for the guest to reach its halt loop.
        var waited = 0
        while m.uart.text != "halting\n" && waited < 30_000 {
            usleep(10_000)
            waited += 10
        }
        #expect(m.uart.text == "halting\n")
        #expect(runner.wait(timeoutMs: 50) == nil)
        runner.stop(.host)
        let result = runner.wait(timeoutMs: 10_000)
        #expect(result == .stopped(.host))
        #expect(try m.vcpus[1].mpState() == 1, "the AP never got INIT/SIPI")
    }

    @Test func longModeEntry() throws {
        let m = try TestMachine(memory: 1 << 31)  // 2 GiB (untouched pages cost nothing)
        let image = try GuestImages.image("longmode")
        try m.ram.writeBytes(image, at: 0x10_0000)
        let entry = LongModeEntry(entryPoint: 0x10_0000, stackPointer: 0x8_0000, bootParams: 0x7000)
        try entry.writeTables(to: m.ram)
        try m.vcpus[0].setRegisters(entry.cpuState)
        let result = try m.run()
        #expect(result == .stopped(.guestExit(status: 0)), "\(result)")
        #expect(m.uart.text == "long mode cs 00000010\nrsi 00007000\nmem 600DF00D\n")
        #expect(try m.ram.read(UInt32.self, at: 0x4000_0008) == 0x600D_F00D)
    }

    /// An `IORequestSink` other than the dispatcher sees every exit (the hook `--ioreq xen-sim` uses).
    @Test func customSinkSeesEveryExit() throws {
        final class RecordingSink: IORequestSink {
            let next: IODispatcher
            let seen = Mutex<[String]>([])
            init(next: IODispatcher) { self.next = next }
            func handle(_ request: inout IORequest, vcpu: Int) throws(IORequestSinkError) {
                seen.withLock { $0.append("\(request.space) 0x\(String(request.address, radix: 16)) x\(request.count)") }
                try next.handle(&request, vcpu: vcpu)
            }
        }
        let m = try TestMachine()
        try m.loadFirmware(try GuestImages.image("portio"))
        let sink = RecordingSink(next: m.dispatcher)
        let result = try m.run(sink: sink)
        #expect(result == .stopped(.guestExit(status: 0)))
        let seen = sink.seen.withLock { $0 }
        // KVM's emulator carries out `rep outsb` one element per exit but batches `rep insw`.
        #expect(seen.prefix(21).allSatisfy { $0 == "pio 0x3f8 x1" }, "\(seen)")
        #expect(seen.contains("pio 0x700 x8"))
        #expect(seen.last == "pio 0x501 x1")
    }

    /// A sink that fails ends the run with a typed error instead of crashing.
    @Test func failingSinkEndsTheRun() throws {
        final class FailingSink: IORequestSink {
            func handle(_ request: inout IORequest, vcpu: Int) throws(IORequestSinkError) {
                throw .failed("simulated hypervisor is gone")
            }
        }
        let m = try TestMachine()
        try m.loadFirmware(try GuestImages.image("portio"))
        let result = try m.run(sink: FailingSink())
        guard case .failed(.ioFailed(0, let request, let reason)) = result else {
            Issue.record("expected an I/O failure, got \(result)")
            return
        }
        #expect(request.hasPrefix("pio write 1B @0x3f8"))
        #expect(reason == "simulated hypervisor is gone")
    }
}
