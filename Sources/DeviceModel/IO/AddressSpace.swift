import Synchronization

/// Errors from registering handlers in an ``AddressSpace``.
public enum AddressSpaceError: Error, Equatable, CustomStringConvertible {
    /// `new` overlaps the already registered `existing`.
    case overlap(new: AddressRange, existing: AddressRange, space: IOSpace)
    /// The range is empty or runs past 2^64.
    case invalidRange(base: UInt64, length: UInt64)
    /// No range starts at `base`.
    case notRegistered(base: UInt64, space: IOSpace)

    public var description: String {
        switch self {
        case .overlap(let new, let existing, let space):
            "\(space) range \(new) overlaps already registered \(existing)"
        case .invalidRange(let base, let length):
            "invalid range base 0x\(String(base, radix: 16)) length 0x\(String(length, radix: 16))"
        case .notRegistered(let base, let space):
            "no \(space) range registered at 0x\(String(base, radix: 16))"
        }
    }
}

/// A registration appearing in or leaving an ``AddressSpace``.
public enum AddressSpaceChange: Sendable, Equatable {
    case added(AddressRange, name: String)
    case removed(AddressRange, name: String)
}

/// Non-overlapping address ranges mapped to handlers, with O(log n) lookup.
///
/// Lookups take a lock only to copy a reference to the current immutable table, so
/// vCPU threads dispatch concurrently while the guest reprograms BARs.
public final class AddressSpace: Sendable {
    /// One registration: a range and the handler that serves it.
    public struct Entry: Sendable {
        /// The addresses served.
        public let range: AddressRange
        /// Who serves them; offsets are relative to `range.base`.
        public let handler: any IOHandler
        /// A label for logs.
        public let name: String
    }

    /// Which kind of address this space holds.
    public let space: IOSpace
    // Sorted by base; replaced wholesale on every change (copy-on-write).
    private let table = Mutex<[Entry]>([])
    // Change observers by token; locked inside `table` (lock order: table, then observers).
    private let observers = Mutex<(next: UInt64, byToken: [UInt64: @Sendable (AddressSpaceChange) -> Void])>((0, [:]))

    /// Creates an empty address space.
    public init(space: IOSpace) { self.space = space }

    /// Maps `[base, base + length)` to `handler`. Fails if the range overlaps an existing one.
    public func register(base: UInt64, length: UInt64, name: String, handler: any IOHandler) throws(AddressSpaceError) {
        guard let range = AddressRange(base: base, length: length) else {
            throw .invalidRange(base: base, length: length)
        }
        try table.withLock { (entries: inout [Entry]) throws(AddressSpaceError) in
            let i = Self.insertionIndex(entries, base: range.base)
            if i > 0, entries[i - 1].range.overlaps(range) {
                throw .overlap(new: range, existing: entries[i - 1].range, space: space)
            }
            if i < entries.count, entries[i].range.overlaps(range) {
                throw .overlap(new: range, existing: entries[i].range, space: space)
            }
            entries.insert(Entry(range: range, handler: handler, name: name), at: i)
            notify(.added(range, name: name))
        }
    }

    /// Removes the range that starts at `base`.
    public func unregister(base: UInt64) throws(AddressSpaceError) {
        try table.withLock { (entries: inout [Entry]) throws(AddressSpaceError) in
            let i = Self.insertionIndex(entries, base: base)
            guard i < entries.count, entries[i].range.base == base else {
                throw .notRegistered(base: base, space: space)
            }
            let removed = entries.remove(at: i)
            notify(.removed(removed.range, name: removed.name))
        }
    }

    /// Calls `observer` for every registration now (as `.added`) and then for every later
    /// change, in order — for backends that mirror the layout elsewhere (a Xen ioreq server
    /// claiming its ranges from the hypervisor, like QEMU's `MemoryListener`).
    ///
    /// Observers run on the registering thread with the space locked: they must not call
    /// back into this address space. Returns a token for ``removeObserver(_:)``.
    @discardableResult
    public func addObserver(_ observer: @escaping @Sendable (AddressSpaceChange) -> Void) -> UInt64 {
        table.withLock { entries in
            for e in entries { observer(.added(e.range, name: e.name)) }
            return observers.withLock { o in
                o.next += 1
                o.byToken[o.next] = observer
                return o.next
            }
        }
    }

    /// Stops calling the observer registered under `token`.
    public func removeObserver(_ token: UInt64) {
        table.withLock { _ in _ = observers.withLock { $0.byToken.removeValue(forKey: token) } }
    }

    /// Called with `table` locked.
    private func notify(_ change: AddressSpaceChange) {
        for observer in observers.withLock({ Array($0.byToken.values) }) { observer(change) }
    }

    /// The entry whose range contains `address`, if any.
    public func lookup(_ address: UInt64) -> Entry? {
        let entries = table.withLock { $0 }
        // Last entry with base <= address.
        var lo = 0
        var hi = entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if entries[mid].range.base <= address { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0 else { return nil }
        let e = entries[lo - 1]
        return e.range.contains(address) ? e : nil
    }

    /// A snapshot of all registrations, sorted by base address.
    public var entries: [Entry] { table.withLock { $0 } }

    private static func insertionIndex(_ entries: [Entry], base: UInt64) -> Int {
        var lo = 0
        var hi = entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if entries[mid].range.base < base { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
