import Synchronization

/// The core's ioeventfd fallback: a table of matches that ``IODispatcher`` consults for
/// every write before calling a handler. Used by backends without kernel ioeventfds
/// (the Xen ioreq server, the test harness). Registration follows KVM's rules (see
/// ``IOEventRegistrar``), so a device that works here registers the same way under KVM.
public final class SoftwareIOEvents: IOEventRegistrar {
    private let table = Mutex<[IOEventMatch: EventNotifier]>([:])
    // Fast path: most writes are not notifies, so skip the lock when nothing is registered.
    private let registered = Atomic<Int>(0)

    /// Creates an empty table.
    public init() {}

    /// Adds `match`; refuses invalid sizes and matches that collide with a registered one.
    public func register(_ match: IOEventMatch, notifier: EventNotifier) throws(IOEventError) {
        guard [1, 2, 4, 8].contains(match.size) else { throw .invalidSize(match.size) }
        try table.withLock { (t: inout [IOEventMatch: EventNotifier]) throws(IOEventError) in
            // Same rule as KVM's ioeventfd_check_collision: a wildcard and a datamatch on the
            // same address and size, or two equal datamatches, cannot coexist.
            if let existing = t.keys.first(where: { $0.collides(with: match) }) {
                throw .duplicate(existing)
            }
            t[match] = notifier
        }
        registered.add(1, ordering: .relaxed)
    }

    /// Removes the registration equal to `match`.
    public func unregister(_ match: IOEventMatch) throws(IOEventError) {
        try table.withLock { (t: inout [IOEventMatch: EventNotifier]) throws(IOEventError) in
            guard t.removeValue(forKey: match) != nil else { throw .notRegistered(match) }
        }
        registered.subtract(1, ordering: .relaxed)
    }

    /// Signals the notifier whose match this write satisfies; returns true when one did.
    public func signal(space: IOSpace, address: UInt64, size: Int, value: UInt64) -> Bool {
        guard registered.load(ordering: .relaxed) > 0 else { return false }
        let notifier: EventNotifier? = table.withLock { t in
            // Registration rules out collisions, so at most one of these two keys is present.
            let exact = IOEventMatch(space: space, address: address, size: size, datamatch: value & IORequest.mask(forSize: size))
            if let n = t[exact] { return n }
            return t[IOEventMatch(space: space, address: address, size: size, datamatch: nil)]
        }
        guard let notifier else { return false }
        try? notifier.signal()
        return true
    }
}
