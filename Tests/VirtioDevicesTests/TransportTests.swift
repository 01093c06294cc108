import DeviceModel
import DeviceModelTesting
import Testing

/// Behaviour every transport shares, driven through registers by ``VirtioTestDriver``.
@Suite struct TransportTests {
    typealias Status = VirtioTestSpec.Status

    @Test(arguments: TransportFixture.Kind.allCases)
    func initSequenceActivatesDeviceWithNegotiatedFeatures(kind: TransportFixture.Kind) throws {
        let f = try TransportFixture(kind)
        let queues = try f.driver.start(features: f.allFeatures, queues: [0, 1])
        let expected = Status.acknowledge | Status.driver | Status.driverOK
            | (f.driver.transport.isLegacy ? 0 : Status.featuresOK)
        #expect(f.driver.status == expected)
        #expect(f.device.activations == 1)
        #expect(f.device.negotiatedFeatures == f.allFeatures)
        #expect(queues.map(\.size) == [16, 16])
        #expect(f.needsResetReason == nil)
    }

    @Test(arguments: TransportFixture.Kind.allCases)
    func echoRequestCompletesAndInterrupts(kind: TransportFixture.Kind) throws {
        let f = try TransportFixture(kind)
        let q = try f.driver.start(features: f.allFeatures, queues: [0])[0]
        let payload = Array("hello, virtio".utf8)
        try q.submit(readable: [payload], writable: [64])
        #expect(try f.driver.kick(q))
        let done = try f.driver.waitForUsed(q)
        #expect(done.count == 1)
        #expect(done[0].length == UInt32(payload.count))
        #expect(done[0].written == payload)
        let irq = try f.driver.waitForInterrupt()
        #expect(irq.usedBuffers)
        #expect(!irq.configChange)
    }

    @Test(arguments: TransportFixture.Kind.allCases)
    func manyRequestsSplitAcrossBuffers(kind: TransportFixture.Kind) throws {
        let f = try TransportFixture(kind)
        let q = try f.driver.start(features: f.allFeatures, queues: [0])[0]
        var expected: [[UInt8]] = []
        for round in 0..<5 {
            for i in 0..<4 {
                let a = [UInt8](repeating: UInt8(round * 16 + i), count: 100)
                let b = [UInt8](repeating: 0xEE, count: 28)
                try q.submit(readable: [a, b], writable: [50, 78])
                expected.append(a + b)
            }
            try f.driver.kick(q)
            let done = try f.driver.waitForUsed(q, count: 4)
            #expect(done.map(\.written) == Array(expected.suffix(4)))
        }
        #expect(f.device.echoed == 20)
        #expect(q.freeCount == 16)
    }

    @Test(arguments: TransportFixture.Kind.allCases)
    func indirectDescriptorsCarryWholeRequest(kind: TransportFixture.Kind) throws {
        let f = try TransportFixture(kind)
        let q = try f.driver.start(features: f.allFeatures, queues: [0])[0]
        #expect(q.indirectDescriptors)
        let parts: [[UInt8]] = [[1, 2, 3], [4, 5, 6, 7], Array(8...40)]
        let request = try q.submit(readable: parts, writable: [10, 10, 20], indirect: true)
        #expect(request.indirect)
        #expect(q.freeCount == 15)   // one descriptor in the ring for six buffers
        try f.driver.kick(q)
        let done = try f.driver.waitForUsed(q)
        #expect(done[0].written == parts.flatMap { $0 })
        #expect(q.freeCount == 16)
    }

    @Test(arguments: TransportFixture.Kind.allCases)
    func configurationChangeBumpsGenerationAndInterrupts(kind: TransportFixture.Kind) throws {
        let f = try TransportFixture(kind)
        try f.driver.start(features: f.allFeatures, queues: [0])
        let before = try f.driver.readConfigBytes(offset: 0, count: 4)
        #expect(before == [0x78, 0x56, 0x34, 0x12])
        let generation = f.driver.configGeneration
        f.device.setConfigValue(0xCAFE_F00D)
        let irq = try f.driver.waitForInterrupt()
        #expect(irq.configChange)
        #expect(f.driver.readConfig(offset: 0, size: 4) == 0xCAFE_F00D)
        if !f.driver.transport.isLegacy {
            #expect(f.driver.configGeneration != generation)
        }
    }

    @Test(arguments: TransportFixture.Kind.allCases)
    func configGenerationChangesWhenConfigChangesBetweenReads(kind: TransportFixture.Kind) throws {
        let f = try TransportFixture(kind)
        guard !f.driver.transport.isLegacy else { return }   // no ConfigGeneration register in legacy layouts
        // Before DRIVER_OK there is no interrupt sink: the change is only visible by reading.
        try f.driver.initialize(features: f.allFeatures)
        let g0 = f.driver.configGeneration
        #expect(f.driver.configGeneration == g0)   // stable while nothing changes
        _ = f.driver.readConfig(offset: 0, size: 4)
        f.device.setConfigValue(7)
        let g1 = f.driver.configGeneration
        #expect(g1 != g0)
        #expect(f.driver.readConfig(offset: 0, size: 4) == 7)
        #expect(f.driver.configGeneration == g1)
    }

    @Test(arguments: TransportFixture.Kind.allCases)
    func configWritesReachDeviceAndAccessSizesWork(kind: TransportFixture.Kind) throws {
        let f = try TransportFixture(kind)
        try f.driver.initialize(features: f.allFeatures)
        f.driver.writeConfig(offset: 4, size: 4, value: 0xA1B2_C3D4)
        #expect(f.device.scratch == 0xA1B2_C3D4)
        f.driver.writeConfig(offset: 5, size: 1, value: 0xFF)
        #expect(f.device.scratch == 0xA1B2_FFD4)
        #expect(f.driver.readConfig(offset: 4, size: 2) == 0xFFD4)
        #expect(f.driver.readConfig(offset: 0, size: 8) == 0xA1B2_FFD4_1234_5678)
        // Writes to the read-only field and past the end are dropped.
        f.driver.writeConfig(offset: 0, size: 4, value: 0)
        f.driver.writeConfig(offset: 8, size: 4, value: 0xFFFF_FFFF)
        #expect(f.driver.readConfig(offset: 0, size: 4) == 0x1234_5678)
        #expect(f.driver.readConfig(offset: 6, size: 2) == 0xA1B2)
    }

    @Test(arguments: TransportFixture.Kind.allCases)
    func resetMidFlightCompletesHeldRequestsAndRestarts(kind: TransportFixture.Kind) throws {
        let f = try TransportFixture(kind)
        let queues = try f.driver.start(features: f.allFeatures, queues: [0, 1])
        let hold = queues[1]
        for i in 0..<3 { try hold.submit(readable: [[UInt8(i)]], writable: [8]) }
        try f.driver.kick(hold)
        #expect(f.wait { f.device.heldCount == 3 })
        // The driver resets while three requests are in flight.
        try f.driver.reset()
        #expect(f.driver.status == 0)
        #expect(f.device.resets >= 1)
        #expect(f.device.heldCount == 0)
        // The device finished its in-flight work before status read 0.
        #expect(try hold.usedIndex() == 3)
        #expect(f.mmio?.interruptStatus ?? 0 == 0)
        #expect(f.pci?.pendingISR ?? 0 == 0)
        #expect(!f.line.isAsserted)
        // A second life works normally.
        let q = try f.driver.start(features: f.allFeatures, queues: [0])[0]
        try q.submit(readable: [[9, 9]], writable: [2])
        try f.driver.kick(q)
        #expect(try f.driver.waitForUsed(q)[0].written == [9, 9])
        #expect(f.device.activations == 2)
    }

    @Test(arguments: TransportFixture.Kind.allCases)
    func eventIndexSuppressesInterruptsUntilUsedEventPassed(kind: TransportFixture.Kind) throws {
        let f = try TransportFixture(kind)
        let q = try f.driver.start(features: f.allFeatures, queues: [0])[0]
        #expect(q.eventIndex)
        // First completion: the device has no history, it interrupts.
        try q.submit(readable: [[1]], writable: [1])
        try f.driver.kick(q)
        _ = try f.driver.waitForUsed(q)
        #expect(try f.driver.waitForInterrupt().usedBuffers)
        // Ask for an interrupt only once used.idx passes 3 (i.e. at the 4th completion).
        try q.setUsedEvent(3)
        for n in 2...3 {
            try q.submit(readable: [[UInt8(n)]], writable: [1])
            try f.driver.kick(q)
            _ = try f.driver.waitForUsed(q)
            f.device.quiesce()
            #expect(f.driver.takeInterrupt() == nil, "completion \(n) must be suppressed")
        }
        try q.submit(readable: [[4]], writable: [1])
        try f.driver.kick(q)
        _ = try f.driver.waitForUsed(q)
        #expect(try f.driver.waitForInterrupt().usedBuffers)
        // avail_event tells the driver which avail index the device expects next.
        #expect(try q.availEvent() == 4)
    }

    @Test(arguments: TransportFixture.Kind.allCases)
    func eventIndexKickSuppression(kind: TransportFixture.Kind) throws {
        let f = try TransportFixture(kind)
        let q = try f.driver.start(features: f.allFeatures, queues: [0])[0]
        try q.submit(readable: [[1]], writable: [1])
        #expect(try f.driver.kick(q))   // avail_event == 0: the device wants entry 0
        _ = try f.driver.waitForUsed(q)
        #expect(try q.availEvent() == 1)
        // Two entries added in one batch cross avail_event 1: one kick.
        try q.submit(readable: [[2]], writable: [1])
        try q.submit(readable: [[3]], writable: [1])
        #expect(try q.kickNeeded())
    }

    @Test(arguments: TransportFixture.Kind.allCases)
    func noInterruptFlagWithoutEventIndex(kind: TransportFixture.Kind) throws {
        let f = try TransportFixture(kind)
        let q = try f.driver.start(features: f.allFeatures & ~VirtioTestSpec.Feature.eventIndex, queues: [0])[0]
        #expect(!q.eventIndex)
        try q.disableInterrupts()
        try q.submit(readable: [[1]], writable: [1])
        try f.driver.kick(q)
        _ = try f.driver.waitForUsed(q)
        f.device.quiesce()
        #expect(f.driver.takeInterrupt() == nil)
        try q.enableInterrupts()
        try q.submit(readable: [[2]], writable: [1])
        try f.driver.kick(q)
        _ = try f.driver.waitForUsed(q)
        #expect(try f.driver.waitForInterrupt().usedBuffers)
    }

    @Test(arguments: TransportFixture.Kind.allCases)
    func driverCannotClearStatusBitsOrSetNeedsReset(kind: TransportFixture.Kind) throws {
        let f = try TransportFixture(kind)
        try f.driver.initialize(features: f.allFeatures)
        let s = f.driver.status
        f.driver.transport.writeStatus(Status.acknowledge | Status.deviceNeedsReset)
        #expect(f.driver.status == s)
    }

    @Test(arguments: TransportFixture.Kind.allCases.filter { !$0.isLegacyDriver })
    func featuresOKRefusedForUnofferedFeature(kind: TransportFixture.Kind) throws {
        let f = try TransportFixture(kind)
        try f.driver.reset()
        f.driver.addStatus(Status.acknowledge | Status.driver)
        #expect(throws: VirtioTestDriverError.self) {
            try f.driver.negotiate(exactly: VirtioTestSpec.Feature.version1 | (1 << 20))
        }
        #expect(f.driver.status & Status.featuresOK == 0)
        #expect(f.driver.status & Status.failed != 0)
    }

    @Test(arguments: TransportFixture.Kind.allCases.filter { !$0.isLegacyDriver })
    func featuresOKRefusedWithoutVersion1(kind: TransportFixture.Kind) throws {
        let f = try TransportFixture(kind)
        try f.driver.reset()
        f.driver.addStatus(Status.acknowledge | Status.driver)
        #expect(throws: VirtioTestDriverError.self) {
            try f.driver.negotiate(exactly: VirtioTestSpec.Feature.eventIndex)
        }
        #expect(f.driver.status & Status.featuresOK == 0)
    }

    @Test(arguments: TransportFixture.Kind.allCases.filter { !$0.isLegacyDriver })
    func featuresFrozenAfterFeaturesOK(kind: TransportFixture.Kind) throws {
        let f = try TransportFixture(kind)
        try f.driver.initialize(features: VirtioTestSpec.Feature.version1)
        f.driver.transport.writeDriverFeatures(f.allFeatures)
        try f.driver.setupQueue(0)
        f.driver.driverOK()
        #expect(f.device.negotiatedFeatures == VirtioTestSpec.Feature.version1)
    }

    @Test(arguments: TransportFixture.Kind.allCases)
    func unavailableQueueReportsZeroMaximum(kind: TransportFixture.Kind) throws {
        let f = try TransportFixture(kind)
        try f.driver.initialize(features: f.allFeatures)
        #expect(f.driver.transport.queueMaxSize(2) == 0)
        #expect(throws: VirtioTestDriverError.queueUnavailable(2)) { try f.driver.setupQueue(2) }
    }

    @Test(arguments: TransportFixture.Kind.allCases)
    func deviceRefusingActivationNeedsReset(kind: TransportFixture.Kind) throws {
        let f = try TransportFixture(kind)
        // The loopback device requires queue 0; enable only queue 1.
        try f.driver.initialize(features: f.allFeatures)
        try f.driver.setupQueue(1)
        f.driver.driverOK()
        try f.driver.waitForStatus(Status.deviceNeedsReset)
        #expect(f.needsResetReason == .device(.missingQueue(0)))
        #expect(try f.driver.waitForInterrupt().configChange)
    }
}

/// A machine-wide reset of a transport (``DeviceModel/SystemResettable``, QMP `system_reset`)
/// is the device reset of status 0 done by the host: the device stops, the registers read as at
/// power-on, and a driver sets it up again as after boot.
@Suite struct TransportSystemResetTests {
    @Test(arguments: TransportFixture.Kind.allCases)
    func systemResetStopsTheDeviceAndClearsTheRegisters(kind: TransportFixture.Kind) throws {
        let f = try TransportFixture(kind)
        let q = try f.driver.start(features: f.allFeatures, queues: [0])[0]
        try q.submit(readable: [Array("before".utf8)], writable: [16])
        try f.driver.kick(q)
        #expect(try f.driver.waitForUsed(q).first?.written == Array("before".utf8))
        let resets = f.device.resets
        let transport: (any SystemResettable)? = f.pci ?? f.mmio
        try #require(transport).systemReset()
        #expect(f.status.rawValue == 0)
        #expect(f.driver.status == 0, "the driver reads status 0")
        #expect(f.device.resets == resets + 1, "the device was stopped")
        #expect(f.needsResetReason == nil)

        let again = try f.driver.start(features: f.allFeatures, queues: [0])[0]
        try again.submit(readable: [Array("after".utf8)], writable: [16])
        try f.driver.kick(again)
        #expect(try f.driver.waitForUsed(again).first?.written == Array("after".utf8))
        #expect(f.device.activations == 2)
    }
}
