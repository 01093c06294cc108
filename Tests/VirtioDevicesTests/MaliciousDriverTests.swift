import DeviceModel
import DeviceModelTesting
import Testing
import Virtio

/// One way a hostile driver can break the queue protocol, and the reason the transport must
/// report for it (virtio 1.2 §2.1.2, §2.7; issue item 2).
struct MaliciousCase: Sendable, CustomStringConvertible {
    typealias Flag = VirtioTestSpec.DescriptorFlag

    enum Stage: Sendable {
        /// The queue is live; the bad content is written into the rings, then the driver kicks.
        case running(@Sendable (VirtioTestQueue, TransportFixture) throws -> VirtioTransportError)
        /// The driver programs a bad queue and sets DRIVER_OK.
        case driverOK(@Sendable (TransportFixture) throws -> VirtioTransportError)
    }

    let name: String
    /// Whether the case applies to a transport (e.g. legacy layouts have no ring address
    /// registers, legacy PCI no queue size register).
    var applies: @Sendable (TransportFixture.Kind) -> Bool = { _ in true }
    /// Features to leave out of negotiation.
    var withoutFeatures: UInt64 = 0
    let stage: Stage

    var description: String { name }

    static let outsideRAM: UInt64 = 0x2000_0000

    static let all: [MaliciousCase] = [
        MaliciousCase(name: "avail ring head ≥ queue size", stage: .running { q, _ in
            try q.rawPublish(head: q.size)
            return .device(.queue(index: 0, .descriptorIndexOutOfRange(index: q.size, tableSize: Int(q.size))))
        }),
        MaliciousCase(name: "next index ≥ queue size", stage: .running { q, f in
            let buf = try f.driver.arena.allocate(64)
            try q.rawWriteDescriptor(0, .init(address: buf, length: 8, flags: Flag.next, next: 99))
            try q.rawPublish(head: 0)
            return .device(.queue(index: 0, .descriptorIndexOutOfRange(index: 99, tableSize: Int(q.size))))
        }),
        MaliciousCase(name: "chain loop", stage: .running { q, f in
            let buf = try f.driver.arena.allocate(64)
            try q.rawWriteDescriptor(0, .init(address: buf, length: 8, flags: Flag.next, next: 1))
            try q.rawWriteDescriptor(1, .init(address: buf, length: 8, flags: Flag.next, next: 0))
            try q.rawPublish(head: 0)
            return .device(.queue(index: 0, .chainTooLong(head: 0, limit: Int(q.size))))
        }),
        MaliciousCase(name: "loop inside an indirect table", stage: .running { q, f in
            let buf = try f.driver.arena.allocate(64)
            let table = try f.driver.arena.allocate(32, alignment: 16)
            try q.writeDescriptor(at: table, .init(address: buf, length: 8, flags: Flag.next, next: 1))
            try q.writeDescriptor(at: table + 16, .init(address: buf, length: 8, flags: Flag.next, next: 0))
            try q.rawWriteDescriptor(0, .init(address: table, length: 32, flags: Flag.indirect))
            try q.rawPublish(head: 0)
            return .device(.queue(index: 0, .chainTooLong(head: 0, limit: Int(q.size))))
        }),
        MaliciousCase(name: "nested indirect table", stage: .running { q, f in
            let inner = try f.driver.arena.allocate(16, alignment: 16)
            let outer = try f.driver.arena.allocate(16, alignment: 16)
            let buf = try f.driver.arena.allocate(64)
            try q.writeDescriptor(at: inner, .init(address: buf, length: 8))
            try q.writeDescriptor(at: outer, .init(address: inner, length: 16, flags: Flag.indirect))
            try q.rawWriteDescriptor(0, .init(address: outer, length: 16, flags: Flag.indirect))
            try q.rawPublish(head: 0)
            return .device(.queue(index: 0, .nestedIndirect(head: 0)))
        }),
        MaliciousCase(name: "indirect length not a multiple of 16", stage: .running { q, f in
            let table = try f.driver.arena.allocate(32, alignment: 16)
            try q.rawWriteDescriptor(0, .init(address: table, length: 24, flags: Flag.indirect))
            try q.rawPublish(head: 0)
            return .device(.queue(index: 0, .invalidIndirectLength(head: 0, length: 24)))
        }),
        MaliciousCase(name: "indirect length zero", stage: .running { q, f in
            let table = try f.driver.arena.allocate(32, alignment: 16)
            try q.rawWriteDescriptor(0, .init(address: table, length: 0, flags: Flag.indirect))
            try q.rawPublish(head: 0)
            return .device(.queue(index: 0, .invalidIndirectLength(head: 0, length: 0)))
        }),
        MaliciousCase(name: "indirect together with next", stage: .running { q, f in
            let table = try f.driver.arena.allocate(16, alignment: 16)
            try q.rawWriteDescriptor(0, .init(address: table, length: 16, flags: Flag.indirect | Flag.next, next: 1))
            try q.rawPublish(head: 0)
            return .device(.queue(index: 0, .indirectWithNext(head: 0)))
        }),
        MaliciousCase(name: "indirect without VIRTIO_F_INDIRECT_DESC",
                      withoutFeatures: VirtioTestSpec.Feature.indirectDescriptors, stage: .running { q, f in
            let table = try f.driver.arena.allocate(16, alignment: 16)
            try q.rawWriteDescriptor(0, .init(address: table, length: 16, flags: Flag.indirect))
            try q.rawPublish(head: 0)
            return .device(.queue(index: 0, .indirectNotNegotiated(head: 0)))
        }),
        MaliciousCase(name: "indirect table outside RAM", stage: .running { q, _ in
            try q.rawWriteDescriptor(0, .init(address: outsideRAM, length: 32, flags: Flag.indirect))
            try q.rawPublish(head: 0)
            return .device(.queue(index: 0, .bufferOutsideMemory(address: outsideRAM, length: 32)))
        }),
        MaliciousCase(name: "address + length overflows", stage: .running { q, _ in
            let address: UInt64 = 0xFFFF_FFFF_FFFF_FF00
            try q.rawWriteDescriptor(0, .init(address: address, length: 0x1000))
            try q.rawPublish(head: 0)
            return .device(.queue(index: 0, .bufferOverflow(address: address, length: 0x1000)))
        }),
        MaliciousCase(name: "buffer outside RAM", stage: .running { q, _ in
            try q.rawWriteDescriptor(0, .init(address: outsideRAM, length: 64, flags: Flag.write))
            try q.rawPublish(head: 0)
            return .device(.queue(index: 0, .bufferOutsideMemory(address: outsideRAM, length: 64)))
        }),
        MaliciousCase(name: "buffer straddling the end of RAM", stage: .running { q, _ in
            let address = TransportFixture.ramSize - 16
            try q.rawWriteDescriptor(0, .init(address: address, length: 64))
            try q.rawPublish(head: 0)
            return .device(.queue(index: 0, .bufferOutsideMemory(address: address, length: 64)))
        }),
        MaliciousCase(name: "writable descriptor before a readable one", stage: .running { q, f in
            let buf = try f.driver.arena.allocate(64)
            try q.rawWriteDescriptor(0, .init(address: buf, length: 8, flags: Flag.write | Flag.next, next: 1))
            try q.rawWriteDescriptor(1, .init(address: buf + 8, length: 8))
            try q.rawPublish(head: 0)
            return .device(.queue(index: 0, .readableAfterWritable(head: 0)))
        }),
        MaliciousCase(name: "avail index jumps more than the queue size", stage: .running { q, _ in
            let from = q.availIndex
            try q.rawSetAvailIndex(from &+ q.size &+ 1)
            return .device(.queue(index: 0, .availIndexJump(from: from, to: from &+ q.size &+ 1, size: q.size)))
        }),
        MaliciousCase(name: "descriptor table outside RAM at DRIVER_OK", applies: { !$0.isLegacyDriver }, stage: .driverOK { f in
            f.driver.transport.configureQueue(0, placement: .init(size: 16, descriptorTable: outsideRAM,
                                                                   availRing: 0x20_0000, usedRing: 0x20_1000), msixVector: 1)
            f.driver.driverOK()
            return .device(.queue(index: 0, .ringOutsideMemory(name: "descriptor table", address: outsideRAM, length: 256)))
        }),
        MaliciousCase(name: "used ring straddling the end of RAM at DRIVER_OK", applies: { !$0.isLegacyDriver }, stage: .driverOK { f in
            let used = TransportFixture.ramSize - 64
            f.driver.transport.configureQueue(0, placement: .init(size: 16, descriptorTable: 0x20_0000,
                                                                   availRing: 0x20_1000, usedRing: used), msixVector: 1)
            f.driver.driverOK()
            return .device(.queue(index: 0, .ringOutsideMemory(name: "used ring", address: used, length: 6 + 8 * 16)))
        }),
        MaliciousCase(name: "legacy ring outside RAM at DRIVER_OK", applies: { $0.isLegacyDriver }, stage: .driverOK { f in
            f.driver.transport.configureQueue(0, placement: .init(size: 16, descriptorTable: outsideRAM,
                                                                   availRing: 0, usedRing: 0), msixVector: 1)
            f.driver.driverOK()
            return .device(.queue(index: 0, .ringOutsideMemory(name: "descriptor table", address: outsideRAM, length: 256)))
        }),
        MaliciousCase(name: "misaligned used ring at DRIVER_OK", applies: { !$0.isLegacyDriver }, stage: .driverOK { f in
            f.driver.transport.configureQueue(0, placement: .init(size: 16, descriptorTable: 0x20_0000,
                                                                   availRing: 0x20_1000, usedRing: 0x20_2002), msixVector: 1)
            f.driver.driverOK()
            return .device(.queue(index: 0, .misalignedRing(name: "used ring", address: 0x20_2002, alignment: 4)))
        }),
        MaliciousCase(name: "queue size not a power of two", applies: { $0 != .pciLegacy && $0 != .pciLegacyMSIX }, stage: .driverOK { f in
            f.driver.transport.configureQueue(0, placement: .init(size: 3, descriptorTable: 0x20_0000,
                                                                   availRing: 0x20_1000, usedRing: 0x20_2000), msixVector: 1)
            f.driver.driverOK()
            return .device(.queue(index: 0, .invalidSize(3, maximum: 16)))
        }),
        MaliciousCase(name: "queue size zero", applies: { $0 != .pciLegacy && $0 != .pciLegacyMSIX }, stage: .driverOK { f in
            f.driver.transport.configureQueue(0, placement: .init(size: 0, descriptorTable: 0x20_0000,
                                                                   availRing: 0x20_1000, usedRing: 0x20_2000), msixVector: 1)
            f.driver.driverOK()
            return .device(.queue(index: 0, .invalidSize(0, maximum: 16)))
        }),
        MaliciousCase(name: "queue size above the maximum", applies: { $0 != .pciLegacy && $0 != .pciLegacyMSIX }, stage: .driverOK { f in
            f.driver.transport.configureQueue(0, placement: .init(size: 32, descriptorTable: 0x20_0000,
                                                                   availRing: 0x20_1000, usedRing: 0x20_2000), msixVector: 1)
            f.driver.driverOK()
            return .queueSizeOutOfRange(queue: 0, size: 32, maximum: 16)
        }),
        MaliciousCase(name: "queue size above 16 bits (32-bit QueueNum)", applies: { !$0.isPCI }, stage: .driverOK { f in
            f.driver.transport.configureQueue(0, placement: .init(size: 0x1_0000, descriptorTable: 0x20_0000,
                                                                   availRing: 0x20_1000, usedRing: 0x20_2000), msixVector: 1)
            f.driver.driverOK()
            return .queueSizeOutOfRange(queue: 0, size: 0x1_0000, maximum: 16)
        }),
        MaliciousCase(name: "DRIVER_OK without FEATURES_OK", applies: { !$0.isLegacyDriver }, stage: .driverOK { f in
            try f.driver.reset()
            f.driver.addStatus(VirtioTestSpec.Status.acknowledge | VirtioTestSpec.Status.driver)
            f.driver.transport.writeDriverFeatures(VirtioTestSpec.Feature.version1)
            try f.driver.setupQueue(0)
            f.driver.driverOK()
            return .driverOKWithoutFeaturesOK(status: VirtioTestSpec.Status.acknowledge | VirtioTestSpec.Status.driver
                                                | VirtioTestSpec.Status.driverOK)
        }),
    ]
}

/// One malicious case on one transport.
struct MaliciousRun: Sendable, CustomStringConvertible {
    let attack: MaliciousCase
    let kind: TransportFixture.Kind
    var description: String { "\(kind): \(attack.name)" }

    static let matrix: [MaliciousRun] = MaliciousCase.all.flatMap { c in
        TransportFixture.Kind.allCases.filter(c.applies).map { MaliciousRun(attack: c, kind: $0) }
    }
}

/// The malicious-driver table: every queue-protocol violation puts the device in
/// DEVICE_NEEDS_RESET with a configuration-change interrupt — no crash, no hang, no access
/// outside guest RAM — and a reset brings it back.
@Suite struct MaliciousDriverTests {
    @Test(arguments: MaliciousRun.matrix)
    func violationNeedsResetThenRecovers(run: MaliciousRun) throws {
        let f = try TransportFixture(run.kind)
        let features = f.allFeatures & ~run.attack.withoutFeatures
        let expected: VirtioTransportError
        switch run.attack.stage {
        case .running(let attack):
            let q = try f.driver.start(features: features, queues: [0])[0]
            // A well-formed request first: the device is healthy until the attack.
            try q.submit(readable: [[1, 2, 3]], writable: [3])
            try f.driver.kick(q)
            #expect(try f.driver.waitForUsed(q)[0].written == [1, 2, 3])
            while f.driver.takeInterrupt() != nil {}
            expected = try attack(q, f)
            f.driver.notify(q)
        case .driverOK(let attack):
            try f.driver.initialize(features: features)
            try f.driver.assignConfigVector()
            expected = try attack(f)
        }

        try f.driver.waitForStatus(VirtioTestSpec.Status.deviceNeedsReset)
        #expect(f.status.contains(.deviceNeedsReset))
        #expect(f.needsResetReason == expected)
        // The healthy request's used-buffer interrupt may still arrive after the drain above
        // (MSI-X messages are delivered one by one): wait for the configuration change itself
        // (each wait is bounded; a missing one throws).
        var irq = try f.driver.waitForInterrupt()
        while !irq.configChange { irq = try f.driver.waitForInterrupt() }
        #expect(irq.configChange)

        // The driver resets and the device works again.
        let q = try f.driver.start(features: features, queues: [0])[0]
        #expect(f.driver.status & VirtioTestSpec.Status.deviceNeedsReset == 0)
        #expect(f.needsResetReason == nil)
        try q.submit(readable: [[7, 7]], writable: [2])
        try f.driver.kick(q)
        #expect(try f.driver.waitForUsed(q)[0].written == [7, 7])
    }
}
