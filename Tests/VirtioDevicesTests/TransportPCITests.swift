import DeviceModel
import DeviceModelTesting
import Testing
import Virtio

/// virtio-pci specifics: identity, capabilities, MSI-X vectors, INTx + ISR, notify
/// ioeventfds following the BARs, the PCI configuration access capability, legacy I/O BAR.
@Suite struct TransportPCITests {
    private func pciTransport(_ f: TransportFixture) throws -> VirtioPCITestTransport {
        try #require(f.driver.transport as? VirtioPCITestTransport)
    }

    @Test func modernIdentity() throws {
        let f = try TransportFixture(.pci)
        let t = try pciTransport(f)
        #expect(t.vendorID == 0x1AF4)
        #expect(t.pciDeviceID == 0x1040 + 4)   // entropy
        #expect(t.revisionID == 1)
        #expect(t.subsystemVendorID == 0x1AF4)
        #expect(t.subsystemID >= 0x40)
        #expect(t.deviceID == 4)
        #expect(t.configRead(0x09, 1) == 0 && t.configRead(0x0A, 2) == 0x00FF)   // class 00 ff 00
        #expect(t.configRead(0x3D, 1) == 1)   // INTA
        #expect(t.bars[0] == nil)
        #expect(t.bars[4]?.space == .memory)
        #expect(t.configRead(0x10 + 4 * 4, 4) & 0x6 == 0x4)   // 64-bit memory BAR
    }

    @Test func transitionalIdentity() throws {
        let f = try TransportFixture(.pciLegacy)
        let t = try pciTransport(f)
        #expect(t.pciDeviceID == 0x1005)
        #expect(t.revisionID == 0)
        #expect(t.subsystemID == 4)
        #expect(t.deviceID == 4)
        #expect(t.bars[0]?.space == .port)
        #expect(t.bars[4]?.space == .memory)
    }

    @Test func deviceTypeWithoutLegacyIDCannotBeTransitional() throws {
        let machine = try SimulatedMachine()
        let device = try LoopbackDevice(type: .gpu)
        #expect(throws: VirtioTransportError.noTransitionalDeviceID(.gpu)) {
            try VirtioPCITransport(device: device, memory: machine.memory, msi: machine.msi, ioEvents: machine.ioEvents,
                                   options: .init(mode: .transitional))
        }
        device.reset()
    }

    @Test(arguments: [TransportFixture.Kind.pci, .pciTransitional])
    func vendorCapabilities(kind: TransportFixture.Kind) throws {
        let f = try TransportFixture(kind)
        let t = try pciTransport(f)
        #expect(t.capabilities.map(\.type) == [1, 3, 4, 2, 5])
        let bar4 = try #require(t.bars[4])
        for c in t.capabilities where c.type != 5 {
            #expect(c.bar == 4)
            #expect(c.barOffset + c.length <= bar4.size)
        }
        #expect(try #require(t.capability(1)).length >= 0x38)
        #expect(t.notifyOffMultiplier == 4)
        #expect(t.readCommon(0x12, 2) == 2)   // num_queues
        let msix = try #require(t.msix)
        #expect(msix.vectorCount == 3)
        #expect(msix.tableBAR == 4)
    }

    @Test func msixVectorsPerQueueAndNoVector() throws {
        let f = try TransportFixture(.pci)
        let t = try pciTransport(f)
        try f.driver.initialize(features: f.allFeatures)
        // A vector beyond the table reads back as VIRTIO_MSI_NO_VECTOR.
        #expect(t.setConfigVector(7) == 0xFFFF)
        t.writeCommon(0x16, 2, 0)
        t.writeCommon(0x1A, 2, 3)
        #expect(t.readCommon(0x1A, 2) == 0xFFFF)
        let q0 = try f.driver.setupQueue(0)                     // vector 1
        let q1 = try f.driver.setupQueue(1, msixVector: 0xFFFF) // no interrupts at all
        f.driver.driverOK()
        try q0.submit(readable: [[1]], writable: [1])
        try f.driver.kick(q0)
        _ = try f.driver.waitForUsed(q0)
        let irq = try f.driver.waitForInterrupt()
        #expect(irq.msixVector == 1)
        #expect(irq.usedBuffers)
        // Queue 1 holds its chains; reset completes them — but NO_VECTOR means no message.
        try q1.submit(readable: [[2]], writable: [1])
        try f.driver.kick(q1)
        #expect(f.wait { f.device.heldCount == 1 })
        f.device.releaseHeld()
        _ = try f.driver.waitForUsed(q1)
        f.device.quiesce()
        #expect(f.driver.takeInterrupt() == nil)
        #expect(f.pci?.pendingISR == 0)
        // Config changes go to vector 0.
        f.device.setConfigValue(5)
        #expect(try f.driver.waitForInterrupt() == VirtioTestInterrupt(usedBuffers: false, configChange: true, msixVector: 0))
    }

    @Test func maskedVectorIsPendingUntilUnmasked() throws {
        let f = try TransportFixture(.pci)
        let t = try pciTransport(f)
        let msix = try #require(t.msix)
        let q = try f.driver.start(features: f.allFeatures, queues: [0])[0]
        t.writeBAR(msix.tableBAR, msix.tableOffset + 16 * 1 + 12, 4, 1)   // mask vector 1
        try q.submit(readable: [[1]], writable: [1])
        try f.driver.kick(q)
        _ = try f.driver.waitForUsed(q)
        f.device.quiesce()
        #expect(f.driver.takeInterrupt() == nil)
        #expect(t.readBAR(msix.pbaBAR, msix.pbaOffset, 8) & 0b10 != 0)
        t.writeBAR(msix.tableBAR, msix.tableOffset + 16 * 1 + 12, 4, 0)   // unmask: delivered now
        #expect(try f.driver.waitForInterrupt().msixVector == 1)
    }

    @Test(arguments: [TransportFixture.Kind.pciINTx, .pciLegacy])
    func intxFollowsISRAndReadClears(kind: TransportFixture.Kind) throws {
        let f = try TransportFixture(kind)
        let t = try pciTransport(f)
        #expect(!t.msixEnabled)
        let q = try f.driver.start(features: f.allFeatures, queues: [0])[0]
        try q.submit(readable: [[1]], writable: [1])
        try f.driver.kick(q)
        // Waits on the line, not with waitForUsed: a driver waiting for used buffers takes a
        // wired interrupt that arrives meanwhile (reads the ISR, as Linux's handler does),
        // which would lower the line this test looks at. The device raises it after the push.
        #expect(f.line.wait(forLevel: true, timeout: .seconds(5)))
        #expect(try q.takeUsed().count == 1)
        #expect(t.configRead(0x06, 2) & 0x8 != 0)   // PCI status: interrupt pending
        f.device.setConfigValue(9)
        #expect(f.pci?.pendingISR == 3)
        // One read returns both causes, clears them and drops the line.
        #expect(t.acknowledgeInterrupt() == VirtioTestInterrupt(usedBuffers: true, configChange: true))
        #expect(!f.line.isAsserted)
        #expect(t.configRead(0x06, 2) & 0x8 == 0)
        #expect(t.acknowledgeInterrupt() == VirtioTestInterrupt(usedBuffers: false, configChange: false))
        // Command register interrupt-disable masks the pin (the ISR still records).
        t.configWrite(0x04, 2, 0x0407)
        f.device.setConfigValue(10)
        #expect(f.pci?.pendingISR == 2)
        #expect(!f.line.isAsserted)
        t.configWrite(0x04, 2, 0x0007)
        #expect(f.line.isAsserted)
    }

    @Test func notifyIOEventsFollowTheBARs() throws {
        let f = try TransportFixture(.pciLegacy)
        let t = try pciTransport(f)
        let pci = try #require(f.pci)
        let bar4 = try #require(t.bars[4])
        let bar0 = try #require(t.bars[0])
        let notify = try #require(t.capability(2))
        let expected: Set<IOEventMatch> = [
            IOEventMatch(space: .port, address: bar0.address + 0x10, size: 2, datamatch: 0),
            IOEventMatch(space: .port, address: bar0.address + 0x10, size: 2, datamatch: 1),
            IOEventMatch(space: .memory, address: bar4.address + notify.barOffset, size: 2),
            IOEventMatch(space: .memory, address: bar4.address + notify.barOffset + 4, size: 2),
        ]
        #expect(Set(pci.registeredNotifyMatches) == expected)
        // The guest moves BAR 4: the notify ioeventfds move with it.
        let newBase: UInt64 = 0x1_0000_0000
        t.configWrite(0x20, 4, UInt32(truncatingIfNeeded: newBase))
        t.configWrite(0x24, 4, UInt32(truncatingIfNeeded: newBase >> 32))
        let moved = Set(pci.registeredNotifyMatches.filter { $0.space == .memory }.map(\.address))
        #expect(moved == [newBase + notify.barOffset, newBase + notify.barOffset + 4])
        // Memory decoding off: no memory ioeventfds are left.
        t.configWrite(0x04, 2, 0x0005)
        #expect(pci.registeredNotifyMatches.allSatisfy { $0.space == .port })
        #expect(f.machine.ioEvents.signal(space: .memory, address: newBase + notify.barOffset, size: 2, value: 0) == false)
    }

    @Test func legacyNotifyHitsIOEvent() throws {
        let f = try TransportFixture(.pciLegacy)
        let t = try pciTransport(f)
        let q = try f.driver.start(features: f.allFeatures, queues: [0])[0]
        try q.submit(readable: [[4, 2]], writable: [2])
        let port = try #require(t.bars[0]).address + 0x10
        #expect(f.machine.ioEvents.signal(space: .port, address: port, size: 2, value: 0))
        #expect(try f.driver.waitForUsed(q)[0].written == [4, 2])
    }

    @Test func pciConfigAccessCapabilityReachesTheBAR() throws {
        let f = try TransportFixture(.pci)
        let t = try pciTransport(f)
        let cap = try #require(t.capability(5))
        func window(bar: UInt32, offset: UInt32, length: UInt32) {
            t.configWrite(cap.offset + 4, 1, bar)
            t.configWrite(cap.offset + 8, 4, offset)
            t.configWrite(cap.offset + 12, 4, length)
        }
        let common = try #require(t.capability(1))
        // num_queues through the window.
        window(bar: 4, offset: UInt32(common.barOffset) + 0x12, length: 2)
        #expect(t.configRead(cap.offset + 16, 4) & 0xFFFF == 2)
        // A status write through the window.
        window(bar: 4, offset: UInt32(common.barOffset) + 0x14, length: 1)
        t.configWrite(cap.offset + 16, 4, 1)
        #expect(f.driver.status == 1)
        // Device configuration (le32 value) through the window.
        let device = try #require(t.capability(4))
        window(bar: 4, offset: UInt32(device.barOffset), length: 4)
        #expect(t.configRead(cap.offset + 16, 4) == 0x1234_5678)
        // Invalid windows do nothing: bad length, misaligned offset, other BAR, past the end.
        for (bar, offset, length) in [(UInt32(4), UInt32(0x14), UInt32(3)), (4, 0x15, 2), (2, 0, 4), (4, 0xFFFF_FFFC, 4)] {
            window(bar: bar, offset: offset, length: length)
            t.configWrite(cap.offset + 16, 4, 0)
        }
        #expect(f.driver.status == 1)
    }

    @Test func resetRestoresVectorsAndQueueDefaults() throws {
        let f = try TransportFixture(.pci)
        let t = try pciTransport(f)
        try f.driver.start(features: f.allFeatures, queues: [0], size: 8)
        t.writeCommon(0x16, 2, 0)
        #expect(t.readCommon(0x18, 2) == 8)
        #expect(t.readCommon(0x1A, 2) == 1)
        try f.driver.reset()
        t.writeCommon(0x16, 2, 0)
        #expect(t.readCommon(0x18, 2) == 16)      // back to the maximum
        #expect(t.readCommon(0x1A, 2) == 0xFFFF)
        #expect(t.readCommon(0x1C, 2) == 0)
        #expect(t.readCommon(0x10, 2) == 0xFFFF)
        #expect(t.readCommon(0x20, 8) == 0)
        // queue_enable 0 writes are ignored, an unavailable queue reads size 0.
        t.writeCommon(0x16, 2, 5)
        #expect(t.readCommon(0x18, 2) == 0)
    }

    @Test func queueRegistersFrozenAfterDriverOK() throws {
        let f = try TransportFixture(.pci)
        let t = try pciTransport(f)
        let q = try f.driver.start(features: f.allFeatures, queues: [0])[0]
        t.writeCommon(0x16, 2, 0)
        t.writeCommon(0x20, 4, 0xDEAD_0000)
        t.writeCommon(0x18, 2, 4)
        #expect(t.readCommon(0x20, 8) == q.placement.descriptorTable)
        #expect(t.readCommon(0x18, 2) == 16)
        try q.submit(readable: [[3]], writable: [1])
        try f.driver.kick(q)
        #expect(try f.driver.waitForUsed(q)[0].written == [3])
    }
}
