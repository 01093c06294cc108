import Logging
import Synchronization

/// A function's MSI-X capability: message control, the vector table and the pending bit
/// array (PCI Local Bus 3.0 §6.8.2).
///
/// Create it with ``PCIConfigSpace/addMSIXCapability(vectorCount:table:pba:controller:logger:)``;
/// the bus serves the table and PBA out of their BAR before the function's own BAR handler
/// sees an access. Devices call ``notify(vector:)``.
///
/// Masking (§6.8.3.4–§6.8.3.5): a vector that fires while its mask bit or the function mask
/// is set gets its pending bit set instead of sending; when the guest clears the mask (or the
/// function mask, or enables MSI-X), pending vectors are delivered and their bits cleared.
///
/// Per-vector routes: when the guest unmasks a vector, the capability asks its controller
/// for an ``MSIVectorRoute`` bound to the vector's message (an irqfd on KVM), and repoints it
/// when the guest reprograms the entry, so a device thread raises the vector with one eventfd
/// write. Routing calls run on the vCPU thread that wrote the table, outside the state lock:
/// until a route matches the entry, interrupts go through ``MSIController/signal(_:)``.
///
/// Thread-safe: vCPU threads program the table while I/O threads notify; one lock guards
/// all state, and messages are sent under it so a vector masked by a completed table
/// write never fires afterwards. A second lock serialises route (re)binding between vCPUs.
public final class MSIXCapability: Sendable {
    /// The MSI-X capability ID.
    public static let capabilityID: UInt8 = 0x11
    /// Bytes per table entry.
    public static let entrySize = 16

    /// Where a structure lives: a BAR index and the offset inside it.
    public struct Location: Sendable, Hashable {
        /// The BAR index (BIR), 0–5.
        public let bar: Int
        /// The offset inside the BAR, 8-byte aligned.
        public let offset: UInt32
        /// A structure at `offset` in BAR `bar`.
        public init(bar: Int, offset: UInt32) {
            self.bar = bar
            self.offset = offset
        }
    }

    /// The table size: 1–2048 vectors.
    public let vectorCount: Int
    /// Where the vector table lives.
    public let table: Location
    /// Where the pending bit array lives.
    public let pba: Location
    /// The table's length in bytes: 16 per vector.
    public var tableLength: Int { vectorCount * Self.entrySize }
    /// The PBA's length in bytes: one bit per vector, in whole qwords.
    public var pbaLength: Int { (vectorCount + 63) / 64 * 8 }

    private let controller: any MSIController
    private let logger: Logger
    private let state: Mutex<State>
    /// Held while routes are bound or repointed (never while `state` is held by the caller).
    private let binding = Mutex<Void>(())

    private struct State {
        /// Four dwords per entry: address low, address high, data, vector control.
        var words: [UInt32]
        var pending: [UInt64]
        var enabled = false
        var functionMasked = false
        var busMaster = false
        /// Each vector's bound route and the message it delivers; used only while that
        /// message is still the entry's.
        var routes: [BoundRoute?]
    }

    private struct BoundRoute {
        let route: any MSIVectorRoute
        let message: MSIMessage
    }

    // Writable bits of each entry dword. Address bits 1:0 are kept zero for dword alignment
    // (§6.8.2.6); only bit 0 of vector control (mask) exists (§6.8.2.9).
    private static let writableWords: [UInt32] = [0xFFFF_FFFC, 0xFFFF_FFFF, 0xFFFF_FFFF, 0x0000_0001]

    init(vectorCount: Int, table: Location, pba: Location, controller: any MSIController, logger: Logger) {
        self.vectorCount = vectorCount
        self.table = table
        self.pba = pba
        self.controller = controller
        self.logger = logger
        var words = [UInt32](repeating: 0, count: vectorCount * 4)
        // Every vector starts masked (§6.8.2.9).
        for v in 0..<vectorCount { words[v * 4 + 3] = 1 }
        state = Mutex(State(words: words, pending: Array(repeating: 0, count: (vectorCount + 63) / 64),
                            routes: Array(repeating: nil, count: vectorCount)))
    }

    // MARK: Device API

    /// True while the guest has set MSI-X Enable in message control.
    public var isEnabled: Bool { state.withLock { $0.enabled } }

    /// True while the guest has set Function Mask in message control.
    public var isFunctionMasked: Bool { state.withLock { $0.functionMasked } }

    /// Signals `vector`: sends its message, or records it as pending while masked.
    ///
    /// Called from device I/O threads. Throws only when the backend fails to deliver.
    @discardableResult
    public func notify(vector: Int) throws(InterruptError) -> MSIXDelivery {
        guard (0..<vectorCount).contains(vector) else { return .invalidVector }
        return try state.withLock { (s: inout State) throws(InterruptError) -> MSIXDelivery in
            guard s.enabled else { return .disabled }
            guard s.busMaster else { return .busMasterDisabled }
            if isMasked(s, vector) {
                s.pending[vector / 64] |= 1 << UInt64(vector % 64)
                return .pending
            }
            try send(s, vector)
            return .delivered
        }
    }

    /// True when `vector` has a route bound to its current message (signalling it is one
    /// ``MSIVectorRoute/signal()``).
    public func hasBoundRoute(_ vector: Int) -> Bool {
        guard (0..<vectorCount).contains(vector) else { return false }
        return state.withLock { s in s.routes[vector].map { $0.message == Self.message(s, vector) } ?? false }
    }

    /// The table entry for `vector`, or `nil` when out of range.
    public func entry(_ vector: Int) -> MSIXTableEntry? {
        guard (0..<vectorCount).contains(vector) else { return nil }
        return state.withLock { s in
            MSIXTableEntry(message: Self.message(s, vector), masked: s.words[vector * 4 + 3] & 1 != 0)
        }
    }

    /// True when `vector`'s pending bit is set.
    public func isPending(_ vector: Int) -> Bool {
        guard (0..<vectorCount).contains(vector) else { return false }
        return state.withLock { $0.pending[vector / 64] & (1 << UInt64(vector % 64)) != 0 }
    }

    // MARK: Guest accesses (routed by the bus)

    /// Serves a guest read of `bar` at `offset` if it falls in the table or PBA.
    /// Bytes beyond the end of the structure read as ones.
    func read(bar: Int, offset: UInt64, size: Int) -> UInt64? {
        if let o = Self.relative(offset, to: table, in: bar, length: tableLength) {
            return state.withLock { s in
                Self.gatherBytes(size: size) { i in
                    let byte = o + i
                    guard byte < tableLength else { return 0xFF }
                    return UInt8(truncatingIfNeeded: s.words[byte / 4] >> UInt32(8 * (byte % 4)))
                }
            }
        }
        if let o = Self.relative(offset, to: pba, in: bar, length: pbaLength) {
            return state.withLock { s in
                Self.gatherBytes(size: size) { i in
                    let byte = o + i
                    guard byte < pbaLength else { return 0xFF }
                    return UInt8(truncatingIfNeeded: s.pending[byte / 8] >> UInt64(8 * (byte % 8)))
                }
            }
        }
        return nil
    }

    /// Serves a guest write of `bar` at `offset` if it falls in the table or PBA; returns
    /// whether it did. The PBA is read-only (§6.8.2.10), so writes there are dropped.
    func write(bar: Int, offset: UInt64, size: Int, value: UInt64) -> Bool {
        if Self.relative(offset, to: pba, in: bar, length: pbaLength) != nil { return true }
        guard let o = Self.relative(offset, to: table, in: bar, length: tableLength) else { return false }
        let touched = state.withLock { s in
            var touched: [Int] = []
            for i in 0..<size {
                let byte = o + i
                guard byte < tableLength else { break }
                let word = byte / 4
                let shift = UInt32(8 * (byte % 4))
                let mask = (Self.writableWords[word % 4] >> shift) & 0xFF
                let b = UInt32(truncatingIfNeeded: value >> UInt64(8 * i)) & 0xFF
                s.words[word] = (s.words[word] & ~(0xFF << shift)) | ((b & mask) << shift)
                if touched.last != word / 4 { touched.append(word / 4) }
            }
            for vector in touched { deliverIfPending(&s, vector) }
            return touched
        }
        bindRoutes(touched)
        return true
    }

    /// Message control changed in configuration space (called under the config lock).
    func controlChanged(_ control: UInt16) {
        state.withLock { s in
            s.enabled = control & 0x8000 != 0
            s.functionMasked = control & 0x4000 != 0
            for vector in 0..<vectorCount { deliverIfPending(&s, vector) }
        }
        bindRoutes(0..<vectorCount)
    }

    /// The command register's bus master bit changed (called under the config lock).
    func busMasterChanged(_ enabled: Bool) {
        state.withLock { s in
            s.busMaster = enabled
            for vector in 0..<vectorCount { deliverIfPending(&s, vector) }
        }
    }

    // MARK: Saved state

    /// The table dwords and pending-bit words, for ``PCIBus/saveFunctionState(device:function:id:)``.
    func savedState() -> (words: [UInt64], pending: [UInt64]) {
        state.withLock { s in (s.words.map { UInt64($0) }, s.pending) }
    }

    /// Loads table and pending bits (counts checked by the caller), keeping only bits that
    /// exist: writable table bits and pending bits of real vectors. Enable, function mask and
    /// bus master follow from configuration space (the caller reports them next).
    func restore(words: [UInt64], pending: [UInt64]) {
        state.withLock { s in
            for i in s.words.indices where i < words.count {
                s.words[i] = UInt32(truncatingIfNeeded: words[i]) & Self.writableWords[i % 4]
            }
            for i in s.pending.indices where i < pending.count {
                let valid = i == s.pending.count - 1 && vectorCount % 64 != 0 ? (UInt64(1) << UInt64(vectorCount % 64)) - 1 : UInt64.max
                s.pending[i] = pending[i] & valid
            }
        }
        bindRoutes(0..<vectorCount)
    }

    /// Back to the power-on table: every vector masked with a zero message, nothing pending
    /// (§6.8.2.9). Enable, function mask and bus master follow from configuration space (the
    /// caller reports them next). Bound routes stay: they are used only while an entry's
    /// message matches, which the guest must program again.
    func reset() {
        state.withLock { s in
            for i in s.words.indices { s.words[i] = i % 4 == 3 ? 1 : 0 }
            for i in s.pending.indices { s.pending[i] = 0 }
        }
    }

    // MARK: Helpers

    private func deliverIfPending(_ s: inout State, _ vector: Int) {
        let bit: UInt64 = 1 << UInt64(vector % 64)
        guard s.pending[vector / 64] & bit != 0, s.enabled, s.busMaster, !isMasked(s, vector) else { return }
        s.pending[vector / 64] &= ~bit
        do {
            try send(s, vector)
        } catch {
            logger.error("MSI-X vector \(vector) \(Self.message(s, vector)): \(error)")
        }
    }

    /// Whether `vector` is held back by its mask bit or the function mask. A message the
    /// controller masks itself is never held here: Xen guests with `XENFEAT_hvm_pirqs` write
    /// the PIRQ form and leave the vectors masked (Linux sets `pci_msi_ignore_mask`), as
    /// QEMU's `msix_vector_masked` allows with `xen_is_pirq_msi`.
    private func isMasked(_ s: State, _ vector: Int) -> Bool {
        guard s.functionMasked || s.words[vector * 4 + 3] & 1 != 0 else { return false }
        return !controller.ignoresVectorMask(Self.message(s, vector))
    }

    /// Sends `vector`'s message: through its route when one is bound to that message.
    private func send(_ s: State, _ vector: Int) throws(InterruptError) {
        let message = Self.message(s, vector)
        if let bound = s.routes[vector], bound.message == message {
            try bound.route.signal()
        } else {
            try controller.signal(message)
        }
    }

    /// Binds (or repoints) the routes of those `vectors` that are unmasked and whose route
    /// does not carry the entry's message. The routing calls run without the state lock, so
    /// device threads keep signalling (through the controller) meanwhile; a route being
    /// repointed is unbound until the call returns. Masked vectors keep their route as is:
    /// drivers mask an entry before reprogramming it, and rebinding waits for the unmask.
    private func bindRoutes<S: Sequence<Int>>(_ vectors: S) {
        binding.withLock { _ in
            for vector in vectors {
                let work: (message: MSIMessage, existing: (any MSIVectorRoute)?)? = state.withLock { s in
                    let message = Self.message(s, vector)
                    guard s.words[vector * 4 + 3] & 1 == 0, s.routes[vector]?.message != message else { return nil }
                    let existing = s.routes[vector]?.route
                    s.routes[vector] = nil
                    return (message, existing)
                }
                guard let work else { continue }
                let route: any MSIVectorRoute
                do throws(InterruptError) {
                    if let existing = work.existing {
                        try existing.update(work.message)
                        route = existing
                    } else {
                        guard let made = try controller.makeVectorRoute(work.message) else { continue }
                        route = made
                    }
                } catch {
                    // Not fatal: the vector keeps working through the controller's own path.
                    logger.warning("MSI-X vector \(vector) \(work.message): no route of its own (\(error)); signalled one message at a time")
                    continue
                }
                state.withLock { s in s.routes[vector] = BoundRoute(route: route, message: work.message) }
            }
        }
    }

    private static func message(_ s: State, _ vector: Int) -> MSIMessage {
        MSIMessage(
            address: UInt64(s.words[vector * 4 + 1]) << 32 | UInt64(s.words[vector * 4]),
            data: s.words[vector * 4 + 2])
    }

    /// `offset` relative to the structure at `location`, when the access starts inside it.
    private static func relative(_ offset: UInt64, to location: Location, in bar: Int, length: Int) -> Int? {
        guard bar == location.bar, offset >= UInt64(location.offset) else { return nil }
        let o = offset - UInt64(location.offset)
        return o < UInt64(length) ? Int(o) : nil
    }

    private static func gatherBytes(size: Int, _ byte: (Int) -> UInt8) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<size { v |= UInt64(byte(i)) << UInt64(8 * i) }
        return v
    }
}
