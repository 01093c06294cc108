import DeviceModel
import DeviceModelTesting
import Testing

@Suite("Software ioeventfd")
struct SoftwareIOEventTests {
    static let notify: UInt64 = 0xFE00_3000

    /// A machine with a register file over the notify page, so unmatched writes are visible.
    static func machine() throws -> (SimulatedMachine, RecordingIOHandler) {
        let machine = try SimulatedMachine()
        let device = RecordingIOHandler(length: 0x1000)
        try machine.dispatcher.memory.register(base: notify, length: 0x1000, name: "notify", handler: device)
        return (machine, device)
    }

    @Test func wildcardMatchSignalsForAnyValueAndBypassesTheHandler() throws {
        let (machine, device) = try Self.machine()
        let notifier = try machine.registerIOEvent(IOEventMatch(space: .memory, address: Self.notify, size: 2))
        try machine.vcpu.write(.memory, Self.notify, size: 2, value: 0)
        try machine.vcpu.write(.memory, Self.notify, size: 2, value: 0xFFFF)
        #expect(notifier.drain() == 2)
        #expect(device.accesses.count == 0, "the handler must not see writes the ioeventfd took")
        // Reads are never ioeventfds.
        _ = try machine.vcpu.read(.memory, Self.notify, size: 2)
        #expect(notifier.drain() == 0)
        #expect(device.accesses.all.map(\.direction) == [.read])
    }

    @Test func datamatchSignalsOnlyForItsValue() throws {
        let (machine, device) = try Self.machine()
        let queue1 = try machine.registerIOEvent(IOEventMatch(space: .memory, address: Self.notify, size: 2, datamatch: 1))
        let queue2 = try machine.registerIOEvent(IOEventMatch(space: .memory, address: Self.notify, size: 2, datamatch: 2))
        try machine.vcpu.write(.memory, Self.notify, size: 2, value: 2)
        try machine.vcpu.write(.memory, Self.notify, size: 2, value: 1)
        try machine.vcpu.write(.memory, Self.notify, size: 2, value: 2)
        // Value bits above the access size are not part of the written value.
        try machine.vcpu.write(.memory, Self.notify, size: 2, value: 0x7_0001)
        #expect(queue1.drain() == 2)
        #expect(queue2.drain() == 2)
        // Another value falls through to the handler.
        try machine.vcpu.write(.memory, Self.notify, size: 2, value: 3)
        #expect(queue1.drain() == 0)
        #expect(queue2.drain() == 0)
        #expect(device.accesses.all == [IOAccess(offset: 0, size: 2, direction: .write, value: 3)])
    }

    /// KVM refuses (EEXIST) a wildcard and a datamatch on the same address and size, so the
    /// software table does too: a device must not rely on "datamatch wins over wildcard".
    @Test func wildcardAndDatamatchOnTheSameAccessCollideAsInKVM() throws {
        let (machine, _) = try Self.machine()
        let wildcard = IOEventMatch(space: .memory, address: Self.notify, size: 4)
        let datamatch = IOEventMatch(space: .memory, address: Self.notify, size: 4, datamatch: 5)
        let notifier = try EventNotifier()

        try machine.ioEvents.register(datamatch, notifier: notifier)
        #expect(throws: IOEventError.duplicate(datamatch)) { try machine.ioEvents.register(wildcard, notifier: notifier) }
        #expect(throws: IOEventError.duplicate(datamatch)) { try machine.ioEvents.register(datamatch, notifier: notifier) }
        try machine.ioEvents.unregister(datamatch)

        try machine.ioEvents.register(wildcard, notifier: notifier)
        #expect(throws: IOEventError.duplicate(wildcard)) { try machine.ioEvents.register(datamatch, notifier: notifier) }
        #expect(throws: IOEventError.duplicate(wildcard)) { try machine.ioEvents.register(wildcard, notifier: notifier) }

        // Different size, address or space does not collide (as in KVM).
        try machine.ioEvents.register(IOEventMatch(space: .memory, address: Self.notify, size: 2), notifier: notifier)
        try machine.ioEvents.register(IOEventMatch(space: .memory, address: Self.notify + 4, size: 4), notifier: notifier)
        try machine.ioEvents.register(IOEventMatch(space: .port, address: Self.notify, size: 4), notifier: notifier)

        #expect(wildcard.collides(with: datamatch))
        #expect(datamatch.collides(with: wildcard))
        #expect(!datamatch.collides(with: IOEventMatch(space: .memory, address: Self.notify, size: 4, datamatch: 6)))
    }

    @Test func wrongSizeAddressOrSpaceDoesNotMatch() throws {
        let (machine, device) = try Self.machine()
        let notifier = try machine.registerIOEvent(IOEventMatch(space: .memory, address: Self.notify + 0x10, size: 2))
        try machine.vcpu.write(.memory, Self.notify + 0x10, size: 4, value: 0)
        try machine.vcpu.write(.memory, Self.notify + 0x10, size: 1, value: 0)
        try machine.vcpu.write(.memory, Self.notify + 0x11, size: 2, value: 0)
        try machine.vcpu.write(.port, Self.notify + 0x10, size: 2, value: 0)  // unmapped port
        #expect(notifier.drain() == 0)
        #expect(device.accesses.count == 3)
        #expect(machine.dispatcher.unmappedAccesses == 1)
    }

    @Test func datamatchWiderThanTheAccessNeverMatches() throws {
        let (machine, device) = try Self.machine()
        // KVM compares the zero-extended written value with the whole 64-bit datamatch.
        let match = IOEventMatch(space: .memory, address: Self.notify, size: 1, datamatch: 0x101)
        let notifier = try machine.registerIOEvent(match)
        try machine.vcpu.write(.memory, Self.notify, size: 1, value: 0x01)
        try machine.vcpu.write(.memory, Self.notify, size: 1, value: 0x101)
        #expect(notifier.drain() == 0)
        #expect(device.accesses.count == 2)
        #expect(!match.matches(space: .memory, address: Self.notify, size: 1, value: 0x101))
        #expect(IOEventMatch(space: .memory, address: Self.notify, size: 1, datamatch: 0x01)
            .matches(space: .memory, address: Self.notify, size: 1, value: 0x101))
    }

    @Test func unregisterRestoresTheHandlerPath() throws {
        let (machine, device) = try Self.machine()
        let match = IOEventMatch(space: .memory, address: Self.notify, size: 4, datamatch: 0)
        let notifier = try machine.registerIOEvent(match)
        try machine.vcpu.write(.memory, Self.notify, size: 4, value: 0)
        #expect(notifier.drain() == 1)
        try machine.ioEvents.unregister(match)
        try machine.vcpu.write(.memory, Self.notify, size: 4, value: 0)
        #expect(notifier.drain() == 0)
        #expect(device.accesses.count == 1)
        #expect(throws: IOEventError.notRegistered(match)) { try machine.ioEvents.unregister(match) }
    }

    @Test func invalidSizesAreRefused() throws {
        let events = SoftwareIOEvents()
        let notifier = try EventNotifier()
        for size in [0, 3, 16] {
            #expect(throws: IOEventError.invalidSize(size)) {
                try events.register(IOEventMatch(space: .port, address: 0x60, size: size), notifier: notifier)
            }
        }
    }

    /// Each element of a repeated write is offered to the table, as KVM does for string I/O.
    @Test func everyElementOfAStringWriteIsOffered() throws {
        let machine = try SimulatedMachine()
        let notifier = try machine.registerIOEvent(IOEventMatch(space: .port, address: 0xC050, size: 2))
        try machine.vcpu.writeString(.port, 0xC050, size: 2, bytes: [1, 0, 2, 0, 3, 0])
        #expect(notifier.drain() == 3)
    }

    /// The notify path a device uses: a vCPU thread writes, the device's event loop wakes on
    /// the eventfd and runs the queue handler; the register handler is never involved.
    @Test func notifyWakesTheDeviceEventLoop() async throws {
        let (machine, device) = try Self.machine()
        let notifier = try machine.registerIOEvent(IOEventMatch(space: .memory, address: Self.notify, size: 2, datamatch: 0))
        let loop = try EventLoop(name: "ioevent-test")
        defer { loop.shutdown() }
        let kicks = EventRecorder<UInt64>()
        let watch = loop.watch(fd: notifier.fd) { _ in kicks.record(notifier.drain()) }
        defer { watch.cancel() }

        let vcpu = machine.makeVCPU(index: 1)
        try await Task.detached { try vcpu.write(.memory, Self.notify, size: 2, value: 0) }.value
        #expect(kicks.next(timeout: patience) == 1)
        #expect(device.accesses.count == 0)
    }
}
