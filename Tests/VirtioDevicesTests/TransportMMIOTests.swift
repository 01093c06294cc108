import DeviceModel
import DeviceModelTesting
import Testing
import Virtio

/// virtio-mmio specifics: identification registers, access rules, interrupt line, ioeventfds.
@Suite struct TransportMMIOTests {
    typealias Register = VirtioMMIOTestTransport.Register

    @Test(arguments: [TransportFixture.Kind.mmio, .mmioLegacy])
    func identificationRegisters(kind: TransportFixture.Kind) throws {
        let f = try TransportFixture(kind)
        let t = try #require(f.driver.transport as? VirtioMMIOTestTransport)
        #expect(t.readRegister(Register.magicValue) == 0x7472_6976)
        #expect(t.readRegister(Register.version) == (kind == .mmio ? 2 : 1))
        #expect(t.readRegister(Register.deviceID) == VirtioDeviceType.entropy.rawValue)
        #expect(t.readRegister(Register.vendorID) == 0x554D_4551)
        #expect(f.mmio?.regionLength == 0x200)
    }

    @Test func legacyLayoutHidesVersion1() throws {
        let f = try TransportFixture(.mmioLegacy)
        #expect(f.driver.transport.readDeviceFeatures() & VirtioTestSpec.Feature.version1 == 0)
        let g = try TransportFixture(.mmio)
        #expect(g.driver.transport.readDeviceFeatures() & VirtioTestSpec.Feature.version1 != 0)
    }

    @Test func controlRegistersNeedAligned32BitAccess() throws {
        let f = try TransportFixture(.mmio)
        var narrow = IORequest.read(.memory, TransportFixture.mmioBase + Register.magicValue, size: 2)
        try f.machine.dispatcher.dispatch(&narrow)
        #expect(narrow.value == 0)
        var misaligned = IORequest.read(.memory, TransportFixture.mmioBase + Register.magicValue + 1, size: 4)
        try f.machine.dispatcher.dispatch(&misaligned)
        #expect(misaligned.value == 0)
        var write = IORequest.write(.memory, TransportFixture.mmioBase + Register.status, size: 1, value: 1)
        try f.machine.dispatcher.dispatch(&write)
        #expect(f.driver.status == 0)
    }

    @Test func interruptLineFollowsInterruptStatus() throws {
        let f = try TransportFixture(.mmio)
        let t = try #require(f.driver.transport as? VirtioMMIOTestTransport)
        let q = try f.driver.start(features: f.allFeatures, queues: [0])[0]
        try q.submit(readable: [[1]], writable: [1])
        try f.driver.kick(q)
        // Waits on the line, not with waitForUsed: a driver waiting for used buffers takes a
        // wired interrupt that arrives meanwhile (reads the ISR, as Linux's handler does),
        // which would lower the line this test looks at. The device raises it after the push.
        #expect(f.line.wait(forLevel: true, timeout: .seconds(5)))
        #expect(try q.takeUsed().count == 1)
        #expect(t.readRegister(Register.interruptStatus) == 1)
        f.device.setConfigValue(1)
        #expect(t.readRegister(Register.interruptStatus) == 3)
        // Acknowledging one cause keeps the line up; both drops it.
        t.writeRegister(Register.interruptACK, 1)
        #expect(f.line.isAsserted)
        #expect(t.readRegister(Register.interruptStatus) == 2)
        t.writeRegister(Register.interruptACK, 2)
        #expect(!f.line.isAsserted)
        #expect(f.line.risingEdges == 1)
    }

    @Test func queueNotifyIsAnIOEventWithDatamatch() throws {
        let f = try TransportFixture(.mmio)
        let q = try f.driver.start(features: f.allFeatures, queues: [0])[0]
        try q.submit(readable: [[5]], writable: [1])
        // The 4-byte write of the queue index hits the software ioeventfd, not the handler.
        var notify = IORequest.write(.memory, TransportFixture.mmioBase + Register.queueNotify, size: 4, value: 0)
        #expect(f.machine.dispatcher.softwareIOEvents.signal(space: .memory, address: notify.address, size: 4, value: 0))
        _ = try f.driver.waitForUsed(q)
        // A notify the ioeventfd does not match (2-byte write) is ignored by the handler.
        try q.submit(readable: [[6]], writable: [1])
        notify = IORequest.write(.memory, TransportFixture.mmioBase + Register.queueNotify, size: 2, value: 0)
        try f.machine.dispatcher.dispatch(&notify)
        // ... and a 4-byte one works through the dispatcher.
        notify = IORequest.write(.memory, TransportFixture.mmioBase + Register.queueNotify, size: 4, value: 0)
        try f.machine.dispatcher.dispatch(&notify)
        #expect(try f.driver.waitForUsed(q)[0].written == [6])
    }

    @Test func registerTwiceAndUnregister() throws {
        let f = try TransportFixture(.mmio)
        let t = try #require(f.mmio)
        #expect(throws: VirtioTransportError.alreadyRegistered(base: TransportFixture.mmioBase)) {
            try t.register(in: f.machine.dispatcher.memory, at: 0xE000_0000, ioEvents: f.machine.dispatcher.softwareIOEvents)
        }
        t.unregister()
        #expect(t.base == nil)
        #expect(f.machine.dispatcher.memory.lookup(TransportFixture.mmioBase) == nil)
        #expect(!f.machine.dispatcher.softwareIOEvents.signal(space: .memory, address: TransportFixture.mmioBase + 0x50, size: 4, value: 0))
        try t.register(in: f.machine.dispatcher.memory, at: 0xE000_0000, ioEvents: f.machine.dispatcher.softwareIOEvents)
        #expect(t.base == 0xE000_0000)
    }

    @Test func failedIOEventRegistrationRollsBack() throws {
        let machine = try SimulatedMachine()
        let dispatcher = machine.dispatcher
        // Occupy queue 1's notify match so registration fails half-way.
        let blocker = try EventNotifier()
        try dispatcher.softwareIOEvents.register(IOEventMatch(space: .memory, address: 0xD000_0050, size: 4, datamatch: 1),
                                                 notifier: blocker)
        let t = try VirtioMMIOTransport(device: try LoopbackDevice(), memory: machine.memory,
                                        interrupt: try machine.interruptLine(gsi: 5))
        #expect(throws: VirtioTransportError.self) {
            try t.register(in: dispatcher.memory, at: 0xD000_0000, ioEvents: dispatcher.softwareIOEvents)
        }
        #expect(dispatcher.memory.lookup(0xD000_0000) == nil)
        #expect(!dispatcher.softwareIOEvents.signal(space: .memory, address: 0xD000_0050, size: 4, value: 0))
        t.device.reset()
    }

    @Test func legacyQueuePFNAndGuestPageSize() throws {
        let f = try TransportFixture(.mmioLegacy)
        let t = try #require(f.driver.transport as? VirtioMMIOTestTransport)
        let q = try f.driver.start(features: f.allFeatures, queues: [0], size: 8)[0]
        t.writeRegister(Register.queueSel, 0)
        #expect(UInt64(t.readRegister(Register.queuePFN)) == q.placement.descriptorTable / 4096)
        // Legacy layout: used ring on the next 4096 boundary after the avail ring.
        #expect(q.placement.usedRing == q.placement.descriptorTable + 4096)
        try q.submit(readable: [[1, 2]], writable: [2])
        try f.driver.kick(q)
        #expect(try f.driver.waitForUsed(q)[0].written == [1, 2])
        // After reset the PFN reads 0 again, the page size survives.
        try f.driver.reset()
        t.writeRegister(Register.queueSel, 0)
        #expect(t.readRegister(Register.queuePFN) == 0)
    }
}
