import DeviceModel
import Dispatch
import FuzzSupport
import Synchronization
import Virtio
#if canImport(Glibc)
import Glibc
#endif

/// One buffer of a chain a fuzz target builds: its length, whether the device may write it,
/// what it holds (readable buffers), and whether it is placed outside guest RAM (the chain
/// must then be refused without a byte written).
public struct FuzzBuffer: Sendable {
    public var length: Int
    public var writable: Bool
    public var content: [UInt8]
    public var outsideRAM: Bool

    public init(length: Int, writable: Bool, content: [UInt8] = [], outsideRAM: Bool = false) {
        self.length = length
        self.writable = writable
        self.content = content
        self.outsideRAM = outsideRAM
    }

    /// A readable buffer holding `bytes`.
    public static func readable(_ bytes: [UInt8]) -> FuzzBuffer { FuzzBuffer(length: bytes.count, writable: false, content: bytes) }
    /// A writable buffer of `length` bytes.
    public static func writable(_ length: Int) -> FuzzBuffer { FuzzBuffer(length: length, writable: true) }

    /// Up to `maxBuffers` buffers decoded from the input: a flag byte (bit 0 writable, bits
    /// 5–7 all set: outside RAM), a length below `maxLength`, and a readable buffer's bytes.
    public static func decode(_ input: inout FuzzInput, maxBuffers: Int, maxLength: Int) -> [FuzzBuffer] {
        let count = 1 + Int(input.u8()) % maxBuffers
        return (0..<count).map { _ in
            let flags = input.u8()
            let length = Int(input.u16()) % maxLength
            let writable = flags & 1 != 0
            var content: [UInt8] = []
            if !writable {
                content = input.take(length)
                content += [UInt8](repeating: 0, count: length - content.count)
            }
            // A zero-length buffer covers no byte, so it is nowhere in particular: never outside.
            return FuzzBuffer(length: length, writable: writable, content: content, outsideRAM: flags & 0xe0 == 0xe0 && length > 0)
        }
    }
}

/// A chain the harness made available, and what happened to it.
public final class PostedChain: @unchecked Sendable {
    // SAFETY (@unchecked): created and updated only on the fuzz target's thread; `Sendable`
    // so that invariant messages (autoclosures) may mention it.
    public let queue: Int
    public let head: UInt16
    public let readable: [GuestBuffer]
    public let writable: [GuestBuffer]
    /// Descriptor indices the chain occupies (freed when it completes).
    let descriptors: [UInt16]
    /// The used length, once the device returned the chain.
    public internal(set) var usedLength: UInt32?

    init(queue: Int, head: UInt16, readable: [GuestBuffer], writable: [GuestBuffer], descriptors: [UInt16]) {
        self.queue = queue
        self.head = head
        self.readable = readable
        self.writable = writable
        self.descriptors = descriptors
    }

    public var writableLength: Int { writable.reduce(0) { $0 + Int($1.length) } }
    public var readableLength: Int { readable.reduce(0) { $0 + Int($1.length) } }
}

/// What waiting for a chain found.
public enum ChainOutcome: Equatable {
    /// The device returned it with this used length.
    case used(UInt32)
    /// The device entered NEEDS_RESET.
    case needsReset
    /// Nothing within the timeout (a receive buffer waiting for data, or a hang).
    case timedOut
}

/// Guest RAM, split rings and an interrupt sink for one virtio device, driven chain by
/// chain the way a guest driver would, with the invariants every device must keep checked on
/// each step: the device writes guest memory only inside the writable buffers of chains it
/// holds and the used rings (and `avail_event`); a returned chain's used length is at most
/// its writable length and its head is one the driver made available; a chain the device
/// refuses (NEEDS_RESET) has nothing written into it.
///
/// The device stays activated across fuzz inputs while nothing is left posted; after a
/// NEEDS_RESET, or when receive buffers are still held, ``finish()`` resets and reactivates
/// it on fresh rings.
public final class DeviceQueueHarness {
    public static let ramSize = 96 << 10
    /// Rings of queue `q` live at `q * 0x1000`; buffers from here up.
    public static let dataBase: UInt64 = 0x6000
    public static let ringSize: UInt16 = 64
    /// Bytes between buffers, never written by a correct device.
    static let guardBytes: UInt64 = 16

    public let memory: MappedGuestMemory
    public let device: any VirtioDevice
    public let features: UInt64
    public let queues: [Int]
    private let ram: UnsafeMutableRawPointer
    private let sink = FuzzInterruptSink()
    private var kicks: [Int: EventNotifier] = [:]
    private var availIndex: [Int: UInt16] = [:]
    private var usedSeen: [Int: UInt16] = [:]
    private var freeDescriptors: [Int: [UInt16]] = [:]
    /// Chains made available and not yet returned, by queue and head.
    public private(set) var posted: [Int: [UInt16: PostedChain]] = [:]
    /// Chains returned since the memory was last checked (their buffers were the device's).
    private var returnedSinceCheck: [PostedChain] = []
    /// Chains returned, per queue, in used-ring order, until a target takes them.
    private var returnedInOrder: [Int: [PostedChain]] = [:]
    private var nextData = DeviceQueueHarness.dataBase
    /// RAM as last checked: every later change must be explained.
    private var snapshot: [UInt8]
    public private(set) var isActive = false
    /// Counts activations: a target keeping a model of device state starts over when it changes.
    public private(set) var generation = 0

    /// Activates `device` with `features` on rings for `queues` (indices below 6).
    public init(device: any VirtioDevice, features: UInt64, queues: [Int]) {
        guard let memory = try? MappedGuestMemory.anonymous([(guestBase: 0, length: UInt64(Self.ramSize))]) else {
            fuzzFailure("cannot map guest RAM")
        }
        self.memory = memory
        self.device = device
        self.features = features
        self.queues = queues
        ram = memory.regions[0].host
        snapshot = [UInt8](repeating: 0, count: Self.ramSize)
        activate()
    }

    static func descriptorTable(_ q: Int) -> UInt64 { UInt64(q) * 0x1000 }
    static func availRing(_ q: Int) -> UInt64 { UInt64(q) * 0x1000 + 0x400 }
    static func usedRing(_ q: Int) -> UInt64 { UInt64(q) * 0x1000 + 0x600 }

    /// Fresh rings, then `activate` (the device must accept a driver that sets everything up).
    private func activate() {
        ram.initializeMemory(as: UInt8.self, repeating: 0, count: Self.ramSize)
        var bindings: [VirtioQueueBinding] = []
        for q in queues {
            let layout = VirtqueueLayout(size: Self.ringSize, descriptorTable: Self.descriptorTable(q),
                                         availRing: Self.availRing(q), usedRing: Self.usedRing(q))
            guard let queue = try? SplitVirtqueue(memory: memory, layout: layout, eventIndex: features & VirtioFeature.eventIndex != 0,
                                                  indirectDescriptors: features & VirtioFeature.indirectDescriptors != 0),
                  let kick = try? EventNotifier() else { fuzzFailure("cannot build queue \(q)") }
            kicks[q] = kick
            availIndex[q] = 0
            usedSeen[q] = 0
            freeDescriptors[q] = Array((0..<Self.ringSize).reversed())
            posted[q] = [:]
            bindings.append(VirtioQueueBinding(index: q, queue: queue, kick: kick))
        }
        nextData = Self.dataBase
        returnedSinceCheck = []
        returnedInOrder = [:]
        sink.clear()
        do {
            try device.activate(VirtioActivation(features: features, memory: memory, queues: bindings, interrupts: sink))
        } catch {
            fuzzFailure("activation refused: \(error)")
        }
        isActive = true
        generation += 1
        snapshot = Array(UnsafeRawBufferPointer(start: ram, count: Self.ramSize))
    }

    /// Resets the device (in-flight requests complete first) and starts it again on fresh rings.
    /// `stopped` runs once the device has stopped, before the rings are cleared: the last
    /// chains it returned can still be read (``takeReturned(_:)``).
    public func restart(stopped: (() -> Void)? = nil) {
        device.reset()
        // Chains the reset returned (parked receive buffers) were the device's to write.
        reap()
        checkMemory()
        stopped?()
        // Nothing may touch guest memory after reset returned (§2.4).
        let before = Array(UnsafeRawBufferPointer(start: ram, count: Self.ramSize))
        usleep(200)
        invariant(before == Array(UnsafeRawBufferPointer(start: ram, count: Self.ramSize)), "the device wrote guest memory after reset")
        isActive = false
        activate()
    }

    /// True when ``finish()`` will restart the device: it failed or still holds chains.
    public var mustRestart: Bool {
        reap()
        return sink.needsReset || posted.values.contains { !$0.isEmpty }
    }

    /// Ends an input: restarts the device when it failed or still holds chains (or when
    /// `restart`), so the next input starts from a known state. `lastReturned` runs before any
    /// buffer is reused, so the target can still account for chains the device returned
    /// since it last looked (``takeReturned(_:)``).
    public func finish(restart force: Bool = false, lastReturned: (() -> Void)? = nil) {
        reap()
        checkMemory()
        if force || mustRestart {
            restart(stopped: lastReturned)
        } else {
            lastReturned?()
            // A failure that landed while the target looked (a device returns a refused chain
            // before it reports NEEDS_RESET) must not leak into the next input.
            if sink.needsReset {
                restart()
                return
            }
            // Returned chains were the input's: their buffers are free for the next one.
            // (Not earlier: a target reads a returned chain's bytes until it is done.)
            returnedInOrder = [:]
            nextData = Self.dataBase
        }
    }

    /// True once the device reported NEEDS_RESET.
    public var needsReset: Bool { sink.needsReset }
    /// Why the device asked for a reset (for invariant messages).
    public var resetReason: String { sink.error.map { "\($0)" } ?? "no reason recorded" }
    /// Configuration-change notifications so far.
    public var configChanges: Int { sink.configChanges }

    // MARK: Posting

    /// Lays `buffers` out in guest RAM (guard bytes between them), chains them, makes the
    /// chain available on `queue` and kicks. `nil` when the ring or RAM is full.
    @discardableResult
    public func post(_ buffers: [FuzzBuffer], on queue: Int, kick: Bool = true) -> PostedChain? {
        guard !buffers.isEmpty, var free = freeDescriptors[queue], free.count >= buffers.count else { return nil }
        // Whatever the device did so far is checked before the driver's own writes go in.
        reap()
        checkMemory()
        let needed = buffers.reduce(UInt64(0)) { $0 + UInt64($1.length) + Self.guardBytes }
        guard nextData + needed <= UInt64(Self.ramSize) else { return nil }
        var descriptors: [UInt16] = []
        var readable: [GuestBuffer] = []
        var writable: [GuestBuffer] = []
        for _ in buffers { descriptors.append(free.removeLast()) }
        for (i, b) in buffers.enumerated() {
            let address: UInt64
            if b.outsideRAM {
                address = UInt64(Self.ramSize) + 0x1000 * UInt64(i)
            } else {
                address = nextData
                nextData += UInt64(b.length) + Self.guardBytes
                if !b.writable { b.content.withUnsafeBytes { (ram + Int(address)).copyMemory(from: $0.baseAddress!, byteCount: min($0.count, b.length)) } }
                else { (ram + Int(address)).initializeMemory(as: UInt8.self, repeating: 0xa5, count: b.length) }
                if b.writable { writable.append(GuestBuffer(address: address, length: UInt32(b.length))) }
                else { readable.append(GuestBuffer(address: address, length: UInt32(b.length))) }
            }
            let last = i == buffers.count - 1
            let flags: UInt16 = (last ? 0 : 1) | (b.writable ? 2 : 0)
            writeDescriptor(queue, descriptors[i], address: address, length: UInt32(b.length), flags: flags,
                            next: last ? 0 : descriptors[i + 1])
        }
        freeDescriptors[queue] = free
        let chain = PostedChain(queue: queue, head: descriptors[0], readable: readable, writable: writable, descriptors: descriptors)
        posted[queue, default: [:]][chain.head] = chain
        let index = availIndex[queue] ?? 0
        store(chain.head, at: Self.availRing(queue) + 4 + 2 * UInt64(index % Self.ringSize))
        availIndex[queue] = index &+ 1
        // The driver's own writes are not the device's: take them into the snapshot.
        snapshot = Array(UnsafeRawBufferPointer(start: ram, count: Self.ramSize))
        storeRelease(index &+ 1, at: Self.availRing(queue) + 2)
        snapshot.withUnsafeMutableBytes { $0.storeBytes(of: (index &+ 1).littleEndian, toByteOffset: Int(Self.availRing(queue)) + 2, as: UInt16.self) }
        if kick { try? kicks[queue]?.signal() }
        return chain
    }

    /// Kicks `queue` (as a driver re-notifying).
    public func kick(_ queue: Int) { try? kicks[queue]?.signal() }

    private func writeDescriptor(_ q: Int, _ index: UInt16, address: UInt64, length: UInt32, flags: UInt16, next: UInt16) {
        let at = Int(Self.descriptorTable(q)) + 16 * Int(index)
        ram.storeBytes(of: address.littleEndian, toByteOffset: at, as: UInt64.self)
        ram.storeBytes(of: length.littleEndian, toByteOffset: at + 8, as: UInt32.self)
        ram.storeBytes(of: flags.littleEndian, toByteOffset: at + 12, as: UInt16.self)
        ram.storeBytes(of: next.littleEndian, toByteOffset: at + 14, as: UInt16.self)
    }

    private func store(_ v: UInt16, at gpa: UInt64) { ram.storeBytes(of: v.littleEndian, toByteOffset: Int(gpa), as: UInt16.self) }
    private func storeRelease(_ v: UInt16, at gpa: UInt64) { try? memory.storeRelease(v, at: gpa) }

    // MARK: Completion

    /// Waits until the device returns `chain`, fails, or `timeoutMs` passes.
    public func wait(for chain: PostedChain, timeoutMs: Int = 2000) -> ChainOutcome {
        let deadline = DispatchTime.now() + .milliseconds(timeoutMs)
        while true {
            reap()
            if let length = chain.usedLength { return .used(length) }
            if sink.needsReset { return .needsReset }
            if sink.wait(until: deadline) == .timedOut {
                reap()
                if let length = chain.usedLength { return .used(length) }
                return sink.needsReset ? .needsReset : .timedOut
            }
        }
    }

    /// Waits up to `timeoutMs` for DEVICE_NEEDS_RESET. A device returns a chain it refuses
    /// before it reports the failure, so a refusal can trail the chain's used entry.
    public func awaitNeedsReset(timeoutMs: Int = 1000) -> Bool {
        let deadline = DispatchTime.now() + .milliseconds(timeoutMs)
        while !sink.needsReset {
            if sink.wait(until: deadline) == .timedOut { return sink.needsReset }
        }
        return true
    }

    /// True when a device-readable buffer follows a device-writable one (§2.7.4.2), which
    /// every chain walk refuses — zero-length buffers included.
    public static func readableAfterWritable(_ buffers: [FuzzBuffer]) -> Bool {
        guard let w = buffers.firstIndex(where: \.writable) else { return false }
        return buffers[w...].contains { !$0.writable }
    }

    /// Reads new used entries on every queue and checks them.
    public func reap() {
        for q in queues {
            let used = (try? memory.loadAcquire(UInt16.self, at: Self.usedRing(q) + 2)) ?? 0
            var seen = usedSeen[q] ?? 0
            while seen != used {
                let slot = Int(Self.usedRing(q)) + 4 + 8 * Int(seen % Self.ringSize)
                let id = UInt32(littleEndian: ram.loadUnaligned(fromByteOffset: slot, as: UInt32.self))
                let length = UInt32(littleEndian: ram.loadUnaligned(fromByteOffset: slot + 4, as: UInt32.self))
                seen &+= 1
                guard id < UInt32(Self.ringSize), let chain = posted[q]?.removeValue(forKey: UInt16(id)) else {
                    invariant(false, "queue \(q): used entry for head \(id), which the driver did not make available")
                    continue
                }
                invariant(Int(length) <= chain.writableLength,
                          "queue \(q) head \(id): used length \(length) exceeds the \(chain.writableLength) writable bytes")
                chain.usedLength = length
                returnedSinceCheck.append(chain)
                returnedInOrder[q, default: []].append(chain)
                freeDescriptors[q, default: []].append(contentsOf: chain.descriptors)
            }
            usedSeen[q] = seen
        }
    }

    /// The chains `queue` returned since the last call, in used-ring order.
    public func takeReturned(_ queue: Int) -> [PostedChain] {
        reap()
        defer { returnedInOrder[queue] = [] }
        return returnedInOrder[queue] ?? []
    }

    // MARK: Memory

    /// Checks that every byte that changed since the last check lies in a used ring or a
    /// writable buffer of a chain the device held (`except` a chain it refused, which must be
    /// untouched), then takes the current RAM as the new reference.
    public func checkMemory(except refused: PostedChain? = nil) {
        var allowed: [(UInt64, UInt64)] = queues.map { (Self.usedRing($0), Self.usedRing($0) + 6 + 8 * UInt64(Self.ringSize)) }
        for chain in posted.values.flatMap(\.values) + returnedSinceCheck where chain !== refused {
            for b in chain.writable { allowed.append((b.address, b.address + UInt64(b.length))) }
        }
        allowed.sort { $0.0 < $1.0 }
        let current = UnsafeRawBufferPointer(start: ram, count: Self.ramSize)
        var position = 0
        snapshot.withUnsafeBytes { old in
            func compare(_ from: Int, _ to: Int) {
                guard to > from, memcmp(old.baseAddress! + from, current.baseAddress! + from, to - from) != 0 else { return }
                let at = (from..<to).first { old[$0] != current[$0] } ?? from
                fuzzFailure("the device wrote guest memory at 0x\(String(at, radix: 16)), outside every writable buffer it held")
            }
            for (start, end) in allowed {
                compare(position, min(Int(start), Self.ramSize))
                position = max(position, min(Int(end), Self.ramSize))
            }
            compare(position, Self.ramSize)
        }
        snapshot = Array(current)
        returnedSinceCheck.removeAll()
    }

    /// The bytes of a buffer.
    public func bytes(_ b: GuestBuffer) -> [UInt8] { Array(UnsafeRawBufferPointer(start: ram + Int(b.address), count: Int(b.length))) }
    /// A chain's writable bytes, in order.
    public func writableBytes(_ chain: PostedChain) -> [UInt8] { chain.writable.flatMap { bytes($0) } }
}

/// Records the device's notifications and wakes the harness.
final class FuzzInterruptSink: VirtioInterruptSink {
    private struct State {
        var needsReset = false
        var error: VirtioDeviceError?
        var configChanges = 0
    }
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)

    func clear() {
        state.withLock { $0 = State() }
        while wake.wait(timeout: .now()) == .success {}
    }

    var needsReset: Bool { state.withLock { $0.needsReset } }
    /// Why the device asked for a reset, if it did.
    var error: VirtioDeviceError? { state.withLock { $0.error } }
    var configChanges: Int { state.withLock { $0.configChanges } }

    func wait(until deadline: DispatchTime) -> DispatchTimeoutResult { wake.wait(timeout: deadline) }

    func signalUsedBuffers(queue index: Int) { wake.signal() }
    func signalConfigChange() {
        state.withLock { $0.configChanges += 1 }
        wake.signal()
    }
    func deviceNeedsReset(_ error: VirtioDeviceError) {
        state.withLock {
            $0.needsReset = true
            $0.error = $0.error ?? error
        }
        wake.signal()
    }
}
