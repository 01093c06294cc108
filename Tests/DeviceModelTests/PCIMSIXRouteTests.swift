import DeviceModel
import Dispatch
import Synchronization
import Testing

/// A controller with per-vector routes that records which path each message took, and can
/// hold its routing calls (as a slow `KVM_SET_GSI_ROUTING` would) until released.
final class RoutingFakeMSIController: MSIController {
    enum Path: Equatable { case direct, route(Int) }
    final class Route: MSIVectorRoute {
        let id: Int
        let owner: RoutingFakeMSIController
        let message: Mutex<MSIMessage>
        init(id: Int, message: MSIMessage, owner: RoutingFakeMSIController) {
            self.id = id
            self.owner = owner
            self.message = Mutex(message)
        }
        func update(_ new: MSIMessage) throws(InterruptError) {
            owner.routingCall()
            owner.updates.withLock { $0 += 1 }
            message.withLock { $0 = new }
        }
        func signal() throws(InterruptError) {
            owner.log.withLock { $0.append((.route(id), message.withLock { $0 })) }
        }
    }

    let log = Mutex<[(path: Path, message: MSIMessage)]>([])
    let made = Mutex(0)
    let updates = Mutex(0)
    let failRouting = Atomic<Bool>(false)
    /// When set, routing calls wait for it (signalled once per call).
    let gate = Mutex<DispatchSemaphore?>(nil)
    let inRoutingCall = DispatchSemaphore(value: 0)

    var deliveries: [(path: Path, message: MSIMessage)] { log.withLock { $0 } }

    func signal(_ message: MSIMessage) throws(InterruptError) { log.withLock { $0.append((.direct, message)) } }

    func makeVectorRoute(_ message: MSIMessage) throws(InterruptError) -> (any MSIVectorRoute)? {
        routingCall()
        if failRouting.load(ordering: .relaxed) { throw .deliveryFailed(what: "no GSI left", errno: 28) }
        let id = made.withLock { $0 += 1; return $0 }
        return Route(id: id, message: message, owner: self)
    }

    fileprivate func routingCall() {
        if let gate = gate.withLock({ $0 }) {
            inRoutingCall.signal()
            gate.wait()
        }
    }
}

/// MSI-X vectors bound to routes of their own (irqfds on KVM) when the guest unmasks them.
@Suite("PCI MSI-X vector routes")
struct PCIMSIXRouteTests {
    static let barBase: UInt64 = 0xFEB0_0000

    struct Fixture {
        let machine: PCITestMachine
        let function = TestPCIFunction()
        let msix: MSIXCapability
        let controller = RoutingFakeMSIController()

        init() throws {
            machine = try PCITestMachine()
            try function.configSpace.addBAR(.memory32(size: 0x1000), at: 1)
            msix = try function.configSpace.addMSIXCapability(
                vectorCount: 4, table: .init(bar: 1, offset: 0), pba: .init(bar: 1, offset: 0x800), controller: controller)
            let cap = try #require(function.configSpace.findCapability(MSIXCapability.capabilityID))
            try machine.bus.attach(function, device: 5)
            try conf1Write(machine.dispatcher, device: 5, register: 0x14, size: 4, value: PCIMSIXRouteTests.barBase)
            try conf1Write(machine.dispatcher, device: 5, register: 0x04, size: 2, value: 0x6)
            try conf1Write(machine.dispatcher, device: 5, register: cap + 2, size: 2, value: 0x8000)
        }

        func write(_ v: Int, dword: Int, _ value: UInt64) throws {
            try pciWrite(machine.dispatcher, .memory, PCIMSIXRouteTests.barBase + UInt64(v * 16 + 4 * dword), size: 4, value: value)
        }

        /// Address and data with the entry masked, as Linux programs it.
        func program(_ v: Int, data: UInt32) throws {
            try write(v, dword: 3, 1)
            try write(v, dword: 0, 0xFEE0_0000)
            try write(v, dword: 1, 0)
            try write(v, dword: 2, UInt64(data))
        }

        func unmask(_ v: Int) throws { try write(v, dword: 3, 0) }
    }

    static func message(_ data: UInt32) -> MSIMessage { MSIMessage(address: 0xFEE0_0000, data: data) }

    @Test func unmaskingBindsOneRouteAndInterruptsUseIt() throws {
        let f = try Fixture()
        try f.program(0, data: 0x41)
        #expect(f.controller.made.withLock { $0 } == 0, "no route for a masked vector")
        try f.unmask(0)
        #expect(f.controller.made.withLock { $0 } == 1)
        #expect(f.msix.hasBoundRoute(0))
        #expect(try f.msix.notify(vector: 0) == .delivered)
        #expect(try f.msix.notify(vector: 0) == .delivered)
        #expect(f.controller.deliveries.map(\.path) == [.route(1), .route(1)])
        #expect(f.controller.deliveries.allSatisfy { $0.message == Self.message(0x41) })
    }

    @Test func reprogrammingRepointsTheSameRoute() throws {
        let f = try Fixture()
        try f.program(1, data: 0x41)
        try f.unmask(1)
        try f.program(1, data: 0x42)
        #expect(f.controller.updates.withLock { $0 } == 0, "masked: the route waits for the unmask")
        try f.unmask(1)
        #expect(f.controller.updates.withLock { $0 } == 1)
        #expect(f.controller.made.withLock { $0 } == 1)
        _ = try f.msix.notify(vector: 1)
        #expect(f.controller.deliveries.last?.path == .route(1))
        #expect(f.controller.deliveries.last?.message == Self.message(0x42))
        // Unmasking again without a change costs no routing call.
        try f.write(1, dword: 3, 1)
        try f.unmask(1)
        #expect(f.controller.updates.withLock { $0 } == 1)
    }

    @Test func aPendingVectorGoesOutOnceWithTheUnmaskedMessage() throws {
        let f = try Fixture()
        try f.program(2, data: 0x43)
        #expect(try f.msix.notify(vector: 2) == .pending)
        try f.unmask(2)
        #expect(f.controller.deliveries.map(\.message) == [Self.message(0x43)])
        #expect(!f.msix.isPending(2))
    }

    /// A routing call in progress on a vCPU thread does not hold up a device thread: the
    /// vector is signalled directly, with the message the guest just wrote.
    @Test func signallingDoesNotWaitForARoutingCall() throws {
        let f = try Fixture()
        try f.program(3, data: 0x44)
        let gate = DispatchSemaphore(value: 0)
        f.controller.gate.withLock { $0 = gate }
        let unmasked = DispatchSemaphore(value: 0)
        let join = spawnThread { try? f.unmask(3); unmasked.signal() }
        defer { join() }
        #expect(f.controller.inRoutingCall.wait(timeout: .now() + 30) == .success)
        #expect(try f.msix.notify(vector: 3) == .delivered)
        #expect(f.controller.deliveries.last.map { $0.path == .direct && $0.message == Self.message(0x44) } == true)
        f.controller.gate.withLock { $0 = nil }
        gate.signal()
        #expect(unmasked.wait(timeout: .now() + 30) == .success)
        #expect(f.msix.hasBoundRoute(3))
        _ = try f.msix.notify(vector: 3)
        #expect(f.controller.deliveries.last?.path == .route(1))
    }

    @Test func aVectorWithoutARouteStillDelivers() throws {
        let f = try Fixture()
        f.controller.failRouting.store(true, ordering: .relaxed)
        try f.program(0, data: 0x45)
        try f.unmask(0)
        #expect(!f.msix.hasBoundRoute(0))
        #expect(try f.msix.notify(vector: 0) == .delivered)
        #expect(f.controller.deliveries.map(\.path) == [.direct])
    }
}

/// A controller that masks some messages itself (as Xen does PIRQ-form MSIs): the capability
/// delivers those whatever the vector and function mask bits say.
@Suite("PCI MSI-X messages the hypervisor masks itself")
struct PCIMSIXSelfMaskedTests {
    final class SelfMaskingController: MSIController {
        let log = Mutex<[MSIMessage]>([])
        func signal(_ message: MSIMessage) throws(InterruptError) { log.withLock { $0.append(message) } }
        func ignoresVectorMask(_ message: MSIMessage) -> Bool { message.data & 0xFF == 0 }
    }

    @Test func selfMaskedMessagesIgnoreMaskBitsOthersWait() throws {
        let machine = try PCITestMachine()
        let function = TestPCIFunction()
        let controller = SelfMaskingController()
        try function.configSpace.addBAR(.memory32(size: 0x1000), at: 1)
        let msix = try function.configSpace.addMSIXCapability(
            vectorCount: 2, table: .init(bar: 1, offset: 0), pba: .init(bar: 1, offset: 0x800), controller: controller)
        let cap = try #require(function.configSpace.findCapability(MSIXCapability.capabilityID))
        try machine.bus.attach(function, device: 5)
        let base: UInt64 = 0xFEB0_0000
        try conf1Write(machine.dispatcher, device: 5, register: 0x14, size: 4, value: base)
        try conf1Write(machine.dispatcher, device: 5, register: 0x04, size: 2, value: 0x6)
        try conf1Write(machine.dispatcher, device: 5, register: cap + 2, size: 2, value: 0xC000)  // enabled, function-masked
        try pciWrite(machine.dispatcher, .memory, base + 8, size: 4, value: 0x700)
        try pciWrite(machine.dispatcher, .memory, base + 16 + 8, size: 4, value: 0x41)
        #expect(try msix.notify(vector: 0) == .delivered)
        #expect(try msix.notify(vector: 1) == .pending)
        #expect(controller.log.withLock { $0 }.map(\.data) == [0x700])
        // Disabled or without bus mastering, nothing goes out even for those messages.
        try conf1Write(machine.dispatcher, device: 5, register: 0x04, size: 2, value: 0x2)
        #expect(try msix.notify(vector: 0) == .busMasterDisabled)
    }
}
