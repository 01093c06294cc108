import DeviceModel
import Machine
import Synchronization
import Testing
import X86Machine
import XenGlue
import XenSimulation

/// The xenfv platform swiftdm provides as an HVM guest's only device model, driven through a
/// simulated Xen exactly as guest accesses arrive there (CF8 latched by Xen and forwarded,
/// CFC turned into PCI-config ioreqs for claimed functions, everything else by port claim).
struct HVMPlatformOnXenTests {
    final class Recorder: Sendable {
        let events = Mutex<[MachineEvent]>([])
        let routes = Mutex<[(UInt8, UInt8)]>([])
        let serial = Mutex<[UInt8]>([])
    }

    struct Guest {
        let xen: SimulatedXen
        let machine: IOServerMachine
        let recorder: Recorder

        init(platform: Bool = true, restoring: DeviceStateArchive? = nil) throws {
            let ram = try SharedGuestRAM(layout: [(guestBase: 0, length: 4 << 20)])
            xen = try SimulatedXen(domid: 7, vcpuCount: 1, ram: ram)
            let server = try XenIoreqServer(domid: 7, hypervisor: try xen.openHypervisor(), dispatcher: IODispatcher(), announcesReadiness: true)
            let recorder = Recorder()
            self.recorder = recorder
            let control = server.hypervisor.control
            let config = HVMPlatform.Configuration(
                serialOutput: { b in recorder.serial.withLock { $0.append(b) } },
                events: { e in recorder.events.withLock { $0.append(e) } },
                linkRouteChanged: { link, irq in
                    recorder.routes.withLock { $0.append((link, irq)) }
                    try? control.setPCILinkRoute(domid: 7, link: link, irq: irq)
                })
            machine = try IOServerMachine(server: server, devices: [.entropy(EntropyDeviceSpec())], vcpuCount: 1,
                                          platform: platform ? config : nil, restoring: restoring)
        }

        func outl(_ port: UInt64, _ value: UInt64, size: Int = 4) throws {
            var r = IORequest.write(.port, port, size: size, value: value)
            try xen.emulate(vcpu: 0, &r)
        }

        func inl(_ port: UInt64, size: Int = 4) throws -> UInt64 {
            var r = IORequest.read(.port, port, size: size)
            try xen.emulate(vcpu: 0, &r)
            return r.value ?? 0
        }

        /// A conf1 read as an OS does it: address to 0xCF8, data from 0xCFC.
        func config(device: UInt64, function: UInt64 = 0, register: UInt64) throws -> UInt64 {
            try outl(0xCF8, 0x8000_0000 | device << 11 | function << 8 | register)
            return try inl(0xCFC + (register & 3), size: 4 - Int(register & 3) > 1 ? 4 : 1)
        }
    }

    /// Linux's `pci_check_type1`: write 0x80000000 to 0xCF8 and read it back. Xen latches CF8
    /// but answers a read only from the server claiming the port; without a host bridge
    /// there, the probe reads all ones and Linux finds no PCI configuration mechanism.
    @Test func anOSStyleConf1ProbeReadsBackItsAddress() throws {
        let g = try Guest()
        defer { g.machine.stop() }
        try g.outl(0xCF8, 0x8000_0000)
        #expect(try g.inl(0xCF8) == 0x8000_0000)
        let alone = try Guest(platform: false)
        defer { alone.machine.stop() }
        try alone.outl(0xCF8, 0x8000_0000)
        #expect(try alone.inl(0xCF8) == 0xFFFF_FFFF, "a secondary device model must not answer for the platform")
    }

    @Test func hostBridgeAndPIIX3AreWhereFirmwareLooks() throws {
        let g = try Guest()
        defer { g.machine.stop() }
        #expect(try g.config(device: 0, register: 0) == 0x1237_8086)
        #expect(try g.config(device: 1, register: 0) == 0x7000_8086)
        #expect(try g.config(device: 1, register: 8) >> 8 == 0x06_0100)
        // The virtio device went after the platform's slots.
        #expect(g.machine.attachments.first?.pciAddress?.device == 4)
        #expect(try g.config(device: 4, register: 0) & 0xFFFF == 0x1AF4)
    }

    /// hvmloader's `pci_setup` writes the four PIRQ routes into PIIX3 0x60–0x63 by bytes; Xen's
    /// virtual PIC learns them only through `set_pci_link_route`.
    @Test func pirqRoutesReachXen() throws {
        let g = try Guest()
        defer { g.machine.stop() }
        for (link, irq) in [(0, 5), (1, 10), (2, 11), (3, 5)] as [(UInt64, UInt64)] {
            try g.outl(0xCF8, 0x8000_0000 | 1 << 11 | 0x60)
            try g.outl(0xCFC + link, irq, size: 1)
        }
        #expect(g.xen.pciLinkRoutes == [5, 10, 11, 5])
        // A disabled link (bit 7) is routed nowhere.
        try g.outl(0xCF8, 0x8000_0000 | 1 << 11 | 0x60)
        try g.outl(0xCFC + 2, 0x80, size: 1)
        #expect(g.xen.pciLinkRoutes == [5, 10, 0, 5])
        #expect(try g.config(device: 1, register: 0x60) == 0x0580_0A05)
    }

    @Test func powerOffAndResetsAreReported() throws {
        let g = try Guest()
        defer { g.machine.stop() }
        try g.outl(0x64, 0xFE, size: 1)                 // i8042 pulse reset
        try g.outl(0x92, 0x01, size: 1)                 // fast reset
        try g.outl(0xCF8, 0x8000_0000)                  // keep CF8 enabled: 0xCF9 is still a port
        try g.outl(0xCF9, 0x06, size: 1)                // reset control: hard reset
        try g.outl(0xB004, 0x2000, size: 2)             // PM1a_CNT: SLP_TYP 0 (S5) | SLP_EN
        #expect(g.recorder.events.withLock { $0 } == [
            .reset(.keyboardController), .reset(.systemControlPortA), .reset(.resetControlRegister), .powerOff(.acpiSoftOff),
        ])
    }

    @Test func uartAndGPEBlockAnswer() throws {
        let g = try Guest()
        defer { g.machine.stop() }
        for b in Array("ok\n".utf8) { try g.outl(0x3F8, UInt64(b), size: 1) }
        #expect(g.recorder.serial.withLock { $0 } == Array("ok\n".utf8))
        // GPE0 status reads clear: no event pending (unclaimed, it would read all ones).
        #expect(try g.inl(0xAFE0, size: 2) == 0)
        try g.outl(0xAFE2, 0xFFFF, size: 2)
        #expect(try g.inl(0xAFE2, size: 2) == 0xFFFF)
        #expect(try g.inl(0xAFE0, size: 2) == 0)
    }

    /// `xl save` then `xl restore`: the device model's state goes into a file and comes back
    /// in a new device model process before the guest runs again.
    @Test func savedDeviceStateComesBackInANewDeviceModel() throws {
        let bytes: [UInt8]
        do {
            let g = try Guest()
            defer { g.machine.stop() }
            try g.outl(0x3FF, 0x5C, size: 1)                                  // COM1 scratch
            try g.outl(0xCF8, 0x8000_0000 | 1 << 11 | 0x60)
            try g.outl(0xCFC, 0x0B0A_0605)                                    // PIRQ routes
            try g.outl(0xCF8, 0x8000_0000 | 4 << 11 | 0x3C)
            try g.outl(0xCFC, 9, size: 1)                                     // rng's interrupt line
            try g.outl(0xAFE2, 0x0003, size: 2)                               // GPE0 enables
            bytes = try g.machine.saveDeviceState().encoded()
        }
        let g = try Guest(restoring: try DeviceStateArchive(decoding: bytes))
        defer { g.machine.stop() }
        #expect(try g.inl(0x3FF, size: 1) == 0x5C)
        #expect(try g.config(device: 1, register: 0x60) == 0x0B0A_0605)
        #expect(try g.config(device: 4, register: 0x3C) & 0xFF == 9)
        #expect(try g.inl(0xAFE2, size: 2) == 3)
        // A saved state from a machine with other devices is refused before anything is served.
        var other = try DeviceStateArchive(decoding: bytes)
        other.records.removeAll { $0.id.hasPrefix("pci/0000:00:04.0") }
        #expect(throws: MachineError.deviceState(.missingRecord(id: "pci/0000:00:04.0"))) { try Guest(restoring: other) }
    }
}
