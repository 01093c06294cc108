import DeviceModel
import DeviceModelTesting
import Virtio

/// The chain a benchmark ring offers again and again.
enum RingShape: CaseIterable {
    /// One writable 4 KiB buffer (an rng or rx request).
    case one
    /// A block request: 16-byte header, two 4 KiB data buffers, a status byte.
    case four
    /// The same four buffers through one indirect table.
    case indirectFour

    var name: String {
        switch self {
        case .one: "1 descriptor"
        case .four: "4 descriptors"
        case .indirectFour: "indirect table of 4"
        }
    }
}

/// A split virtqueue of 256 entries in simulated guest RAM whose descriptor table holds one
/// chain of a ``RingShape``; ``offer()`` makes it available again as a driver would.
final class BenchRing {
    static let size: UInt16 = 256
    static let descriptors: UInt64 = 0x0, avail: UInt64 = 0x1000, used: UInt64 = 0x2000, indirect: UInt64 = 0x3000
    static let data: UInt64 = 0x10000

    let machine: SimulatedMachine
    let queue: SplitVirtqueue
    private var availIndex: UInt16 = 0

    init(shape: RingShape) throws {
        machine = try SimulatedMachine()
        let memory = machine.memory
        let chain: [(UInt64, UInt32, UInt16)] = [(Self.data, 16, 0), (Self.data + 0x1000, 4096, 2), (Self.data + 0x2000, 4096, 2),
                                                 (Self.data + 0x3000, 1, 2)]
        func put(_ table: UInt64, _ i: Int, _ d: (UInt64, UInt32, UInt16), last: Bool) throws {
            let at = table + UInt64(16 * i)
            try memory.write(d.0, at: at)
            try memory.write(d.1, at: at + 8)
            try memory.write(d.2 | (last ? 0 : 1), at: at + 12)
            try memory.write(UInt16(i + 1), at: at + 14)
        }
        switch shape {
        case .one:
            try put(Self.descriptors, 0, (Self.data, 4096, 2), last: true)
        case .four:
            for (i, d) in chain.enumerated() { try put(Self.descriptors, i, d, last: i == chain.count - 1) }
        case .indirectFour:
            for (i, d) in chain.enumerated() { try put(Self.indirect, i, d, last: i == chain.count - 1) }
            try put(Self.descriptors, 0, (Self.indirect, UInt32(16 * chain.count), 4), last: true)
        }
        queue = try SplitVirtqueue(memory: memory,
                                   layout: VirtqueueLayout(size: Self.size, descriptorTable: Self.descriptors,
                                                           availRing: Self.avail, usedRing: Self.used),
                                   eventIndex: true, indirectDescriptors: shape == .indirectFour)
    }

    /// Puts the chain at head 0 in the next avail slot and publishes the index.
    func offer() throws {
        let memory = machine.memory
        try memory.write(UInt16(0), at: Self.avail + 4 + 2 * UInt64(availIndex % Self.size))
        availIndex &+= 1
        try memory.write(availIndex, at: Self.avail + 2)
    }
}

/// Function 00:05.0 with four MSI-X vectors behind a host bridge, MSI-X enabled and vector 0
/// programmed and unmasked through configuration and BAR writes, as Linux leaves it.
final class BenchMSIX {
    let machine: SimulatedMachine
    let bus: PCIBus
    let bridge: PCIHostBridge
    let function: BenchFunction
    let capability: MSIXCapability

    init() throws {
        machine = try SimulatedMachine()
        bus = try PCIBus(dispatcher: machine.dispatcher, interruptLines: machine.interruptLines)
        bridge = try PCIHostBridge(bus: bus, model: .i440fx)
        function = BenchFunction()
        try function.configSpace.addBAR(.memory32(size: 0x1000), at: 1)
        capability = try function.configSpace.addMSIXCapability(
            vectorCount: 4, table: .init(bar: 1, offset: 0), pba: .init(bar: 1, offset: 0x800), controller: NullMSIController())
        guard let cap = function.configSpace.findCapability(MSIXCapability.capabilityID) else {
            throw BenchError("no MSI-X capability")
        }
        try bus.attach(function, device: 5)
        let barBase: UInt64 = 0xFEB0_0000
        try configWrite(register: 0x14, size: 4, value: barBase)
        try configWrite(register: 0x04, size: 2, value: 0x6)
        try configWrite(register: cap + 2, size: 2, value: 0x8000)
        for (offset, value) in [(0, 0xFEE0_0000), (4, 0), (8, 0x41), (12, 0)] as [(UInt64, UInt64)] {
            try machine.vcpu.write(.memory, barBase + offset, size: 4, value: value)
        }
    }

    private func configWrite(register: Int, size: Int, value: UInt64) throws {
        try machine.vcpu.write(.port, 0xCF8, size: 4, value: 0x8000_0000 | 5 << 11 | UInt64(register & 0xFC))
        try machine.vcpu.write(.port, 0xCFC + UInt64(register & 3), size: size, value: value)
    }
}

/// A PCI function with nothing behind its BARs but the MSI-X structures.
final class BenchFunction: PCIFunction {
    let configSpace = PCIConfigSpace(vendorID: 0x1AF4, deviceID: 0x1042, classCode: .otherMassStorage)
    func readBAR(_ bar: Int, offset: UInt64, size: Int) -> UInt64 { 0 }
    func writeBAR(_ bar: Int, offset: UInt64, size: Int, value: UInt64) {}
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
