import Synchronization

/// The core's ioeventfd fallback: a table of matches that ``IODispatcher`` consults for
/// every single write before calling a handler. Used by backends without kernel
/// ioeventfds (the Xen ioreq server, the test harness).
public final class SoftwareIoEvents: IoEventRegistrar {
    private let table = Mutex<[IoEventMatch: EventNotifier]>([:])
    // Fast path: most writes are not notifies, so skip the lock when nothing is registered.
    private let registered = Atomic<Int>(0)

    public init() {}

    public func register(_ match: IoEventMatch, notifier: EventNotifier) throws(IoEventError) {
        guard [1, 2, 4, 8].contains(match.size) else { throw .invalidSize(match.size) }
        try table.withLock { (t: inout [IoEventMatch: EventNotifier]) throws(IoEventError) in
            guard t[match] == nil else { throw .duplicate(match) }
            t[match] = notifier
        }
        registered.add(1, ordering: .relaxed)
    }

    public func unregister(_ match: IoEventMatch) throws(IoEventError) {
        try table.withLock { (t: inout [IoEventMatch: EventNotifier]) throws(IoEventError) in
            guard t.removeValue(forKey: match) != nil else { throw .notRegistered(match) }
        }
        registered.subtract(1, ordering: .relaxed)
    }

    /// Signals the notifier whose match this write satisfies; returns true when one did.
    public func signal(space: IOSpace, address: UInt64, size: Int, value: UInt64) -> Bool {
        guard registered.load(ordering: .relaxed) > 0 else { return false }
        let notifier: EventNotifier? = table.withLock { t in
            // A datamatch entry for this value wins over a wildcard one, as in KVM.
            let exact = IoEventMatch(space: space, address: address, size: size, datamatch: value & IORequest.mask(forSize: size))
            if let n = t[exact] { return n }
            return t[IoEventMatch(space: space, address: address, size: size, datamatch: nil)]
        }
        guard let notifier else { return false }
        try? notifier.signal()
        return true
    }
}
