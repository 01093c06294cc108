import DeviceModel
import Dispatch
import Foundation
import Synchronization
import Virtio

// Driver-side helpers for device tests that go straight through `activate`: guest RAM, split
// queues laid out as a Linux driver would, and an interrupt sink that records everything.

/// Guest RAM plus a bump allocator for rings and buffers.
final class TestGuest: @unchecked Sendable {
    // SAFETY (@unchecked): used from the test's thread only; the device reaches the memory
    // through `GuestMemory`, whose bytes are shared by design.
    let memory: MappedGuestMemory
    private var next: UInt64
    let base: UInt64
    let size: UInt64

    init(base: UInt64 = 0x10_0000, size: UInt64 = 16 << 20) throws {
        self.memory = try MappedGuestMemory.anonymous([(guestBase: base, length: size)])
        self.base = base
        self.size = size
        self.next = base
    }

    func allocate(_ length: Int, alignment: UInt64 = 16) -> UInt64 {
        let address = (next + alignment - 1) / alignment * alignment
        next = address + UInt64(max(length, 1))
        precondition(next <= base + size, "test guest out of memory")
        return address
    }

    func makeQueue(size: UInt16) throws -> TestVirtqueue { try TestVirtqueue(guest: self, size: size) }

    func bytes(at address: UInt64, count: Int) throws -> [UInt8] { try memory.readBytes(at: address, count: count) }
}

/// One buffer of a chain the test driver posts.
enum Segment {
    /// Device-readable bytes.
    case readable([UInt8])
    /// A device-writable buffer of this many bytes (pre-filled with 0xEE to spot writes).
    case writable(Int)
}

/// A chain the driver posted: its head and where its writable buffers are.
struct PostedChain {
    var head: UInt16
    var writable: [(address: UInt64, length: Int)]
    var descriptors: [UInt16]
}

/// A split virtqueue from the driver's side (virtio 1.2 §2.7), like Linux's virtio_ring.
final class TestVirtqueue: @unchecked Sendable {
    // SAFETY (@unchecked): driven from the test thread only.
    let guest: TestGuest
    let size: UInt16
    let descriptorTable: UInt64
    let availRing: UInt64
    let usedRing: UInt64
    let kick: EventNotifier
    private var freeDescriptors: [UInt16]
    private var chains: [UInt16: PostedChain] = [:]
    private(set) var availIndex: UInt16 = 0
    private var lastSeenUsed: UInt16 = 0

    init(guest: TestGuest, size: UInt16) throws {
        self.guest = guest
        self.size = size
        descriptorTable = guest.allocate(16 * Int(size), alignment: 16)
        availRing = guest.allocate(6 + 2 * Int(size), alignment: 2)
        usedRing = guest.allocate(6 + 8 * Int(size), alignment: 4)
        kick = try EventNotifier()
        freeDescriptors = Array((0..<size).reversed())
    }

    var layout: VirtqueueLayout {
        VirtqueueLayout(size: size, descriptorTable: descriptorTable, availRing: availRing, usedRing: usedRing)
    }

    func binding(index: Int, features: UInt64) throws -> VirtioQueueBinding {
        let q = try SplitVirtqueue(memory: guest.memory, layout: layout,
                                   eventIndex: features & VirtioFeature.eventIndex != 0,
                                   indirectDescriptors: features & VirtioFeature.indirectDescriptors != 0)
        return VirtioQueueBinding(index: index, queue: q, kick: kick)
    }

    // MARK: Descriptors

    func writeDescriptor(table: UInt64? = nil, _ index: UInt16, address: UInt64, length: UInt32, flags: UInt16, next: UInt16) throws {
        let d = (table ?? descriptorTable) + 16 * UInt64(index)
        try guest.memory.write(address, at: d)
        try guest.memory.write(length, at: d + 8)
        try guest.memory.write(flags, at: d + 12)
        try guest.memory.write(next, at: d + 14)
    }

    private func allocateBuffers(_ segments: [Segment]) throws -> [(address: UInt64, length: Int, writable: Bool)] {
        var out: [(UInt64, Int, Bool)] = []
        for s in segments {
            switch s {
            case .readable(let bytes):
                let a = guest.allocate(bytes.count)
                try guest.memory.writeBytes(bytes, at: a)
                out.append((a, bytes.count, false))
            case .writable(let n):
                let a = guest.allocate(n)
                try guest.memory.fill(0xEE, at: a, length: n)
                out.append((a, n, true))
            }
        }
        return out
    }

    /// Writes a chain into the descriptor table (direct, or through one indirect table) and
    /// makes it available. Does not kick.
    @discardableResult
    func post(_ segments: [Segment], indirect: Bool = false) throws -> PostedChain {
        let buffers = try allocateBuffers(segments)
        let writable = buffers.filter { $0.writable }.map { (address: $0.address, length: $0.length) }
        var chain: PostedChain
        if indirect {
            let table = guest.allocate(16 * buffers.count, alignment: 16)
            for (i, b) in buffers.enumerated() {
                let last = i == buffers.count - 1
                try writeDescriptor(table: table, UInt16(i), address: b.address, length: UInt32(b.length),
                                    flags: (b.writable ? 2 : 0) | (last ? 0 : 1), next: last ? 0 : UInt16(i + 1))
            }
            let head = freeDescriptors.removeLast()
            try writeDescriptor(head, address: table, length: UInt32(16 * buffers.count), flags: 4, next: 0)
            chain = PostedChain(head: head, writable: writable, descriptors: [head])
        } else {
            precondition(buffers.count <= freeDescriptors.count, "test queue out of descriptors")
            let indices = (0..<buffers.count).map { _ in freeDescriptors.removeLast() }
            for (i, b) in buffers.enumerated() {
                let last = i == buffers.count - 1
                try writeDescriptor(indices[i], address: b.address, length: UInt32(b.length),
                                    flags: (b.writable ? 2 : 0) | (last ? 0 : 1), next: last ? 0 : indices[i + 1])
            }
            chain = PostedChain(head: indices[0], writable: writable, descriptors: indices)
        }
        chains[chain.head] = chain
        try publish(head: chain.head)
        return chain
    }

    /// Puts `head` in the next avail slot and publishes the new avail index.
    func publish(head: UInt16) throws {
        try guest.memory.write(head, at: availRing + 4 + 2 * UInt64(availIndex % size))
        availIndex &+= 1
        try guest.memory.storeRelease(availIndex, at: availRing + 2)
    }

    /// Sets avail.idx directly (for malicious-driver tests).
    func setAvailIndex(_ value: UInt16) throws {
        availIndex = value
        try guest.memory.storeRelease(value, at: availRing + 2)
    }

    func notify() throws { try kick.signal() }

    // MARK: Suppression (§2.7.7, §2.7.10)

    /// `VIRTQ_AVAIL_F_NO_INTERRUPT`.
    func setNoInterrupt(_ on: Bool) throws { try guest.memory.write(UInt16(on ? 1 : 0), at: availRing) }
    /// `used_event` (EVENT_IDX).
    func setUsedEvent(_ value: UInt16) throws { try guest.memory.write(value, at: availRing + 4 + 2 * UInt64(size)) }
    /// `avail_event` as the device published it (EVENT_IDX).
    func availEvent() throws -> UInt16 { try guest.memory.read(UInt16.self, at: usedRing + 4 + 8 * UInt64(size)) }
    /// `used.flags` (`VIRTQ_USED_F_NO_NOTIFY`).
    func usedFlags() throws -> UInt16 { try guest.memory.read(UInt16.self, at: usedRing) }

    // MARK: Used ring

    func usedIndex() throws -> UInt16 { try guest.memory.loadAcquire(UInt16.self, at: usedRing + 2) }

    /// Used elements added since the last call, returning their descriptors to the free list.
    func takeUsed(limit: Int = .max) throws -> [(id: UInt32, length: UInt32)] {
        let end = try usedIndex()
        var out: [(UInt32, UInt32)] = []
        while lastSeenUsed != end && out.count < limit {
            let slot = usedRing + 4 + 8 * UInt64(lastSeenUsed % size)
            let id: UInt32 = try guest.memory.read(UInt32.self, at: slot)
            let len: UInt32 = try guest.memory.read(UInt32.self, at: slot + 4)
            out.append((id, len))
            if let c = chains.removeValue(forKey: UInt16(truncatingIfNeeded: id)) { freeDescriptors.append(contentsOf: c.descriptors) }
            lastSeenUsed &+= 1
        }
        return out
    }

    /// Waits (bounded, as hang protection only) until the used index reaches `count` past
    /// what ``takeUsed(limit:)`` last returned, then takes exactly that many elements.
    func waitUsed(_ count: Int, timeout: Duration = .seconds(20)) throws -> [(id: UInt32, length: UInt32)] {
        let ok = waitUntil(timeout: timeout) {
            guard let used = try? self.usedIndex() else { return false }
            return Int(used &- self.lastSeenUsed) >= count
        }
        guard ok else { throw TestFailure("timed out waiting for \(count) used entries (used.idx \((try? usedIndex()) ?? 0), seen \(lastSeenUsed))") }
        return try takeUsed(limit: count)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Polls `condition` until true or `timeout` passes (a hang guard, not a timing assertion).
func waitUntil(timeout: Duration = .seconds(20), _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        usleep(500)
    }
    return condition()
}

/// Records everything a device signals.
final class RecordingInterrupts: VirtioInterruptSink {
    struct State {
        var used: [Int: Int] = [:]
        var configChanges = 0
        var needsReset: [VirtioDeviceError] = []
    }
    let state = Mutex(State())

    func signalUsedBuffers(queue index: Int) { state.withLock { $0.used[index, default: 0] += 1 } }
    func signalConfigChange() { state.withLock { $0.configChanges += 1 } }
    func deviceNeedsReset(_ error: VirtioDeviceError) { state.withLock { $0.needsReset.append(error) } }

    func usedSignals(_ queue: Int) -> Int { state.withLock { $0.used[queue] ?? 0 } }
    var configChanges: Int { state.withLock { $0.configChanges } }
    var needsReset: [VirtioDeviceError] { state.withLock { $0.needsReset } }

    func waitForNeedsReset(timeout: Duration = .seconds(20)) -> VirtioDeviceError? {
        _ = waitUntil(timeout: timeout) { !self.needsReset.isEmpty }
        return needsReset.first
    }
}

extension TestGuest {
    /// The activation a transport would hand the device after DRIVER_OK.
    func activation(features: UInt64, queues: [TestVirtqueue?], interrupts: RecordingInterrupts) throws -> VirtioActivation {
        var bindings: [VirtioQueueBinding] = []
        for (i, q) in queues.enumerated() {
            if let q { bindings.append(try q.binding(index: i, features: features)) }
        }
        return VirtioActivation(features: features, memory: memory, queues: bindings, interrupts: interrupts)
    }
}

/// A temporary directory removed on deinit.
final class TemporaryDirectory {
    let path: String
    /// A fresh directory in `parent` (the temporary directory by default).
    init(in parent: String = NSTemporaryDirectory()) throws {
        var template = Array("\(parent)/swiftdm-test-XXXXXX".utf8CString)
        guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw TestFailure("mkdtemp failed: errno \(errno)")
        }
        path = String(cString: p)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { "\(path)/\(name)" }
}
