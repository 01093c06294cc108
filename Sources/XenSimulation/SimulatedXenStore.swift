import DeviceModel
import Synchronization
import XenGlue
#if canImport(Glibc)
import Glibc
#endif

/// The Xen store of a ``SimulatedXen``; the device model runs in domain 0, so relative
/// paths live under `/local/domain/0/`.
///
/// Watches behave as xenstored's: a new watch fires once at once; a write fires the watches
/// on the path and its ancestors; ``SimulatedXen/destroyDomain()`` fires `@releaseDomain`.
/// Each handle queues its own events, and its watch descriptor (an eventfd) is readable while
/// the queue is not empty, like libxenstore's `xs_fileno` pipe.
public final class SimulatedXenStore: XenStore, @unchecked Sendable {
    // SAFETY (@unchecked): the tree lives in the simulation's locked state; the event queue
    // in `events` (a Mutex); `notifier` is Sendable.
    let xen: SimulatedXen
    private let events = Mutex<[XenStoreWatchEvent]>([])
    private let notifier: EventNotifier

    init(xen: SimulatedXen) throws(XenError) {
        self.xen = xen
        do {
            notifier = try EventNotifier()
        } catch {
            throw .callFailed(function: "xs_open", domid: nil, errno: error.errnoValue)
        }
    }

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") || path.hasPrefix("@") ? path : "/local/domain/0/" + path
    }

    public func write(_ value: String, at path: String) throws(XenError) {
        if let e = xen.injectedFailure("xs_write") { throw .callFailed(function: "xs_write(\(path))", domid: nil, errno: e) }
        let absolute = Self.absolute(path)
        xen.state.withLock { $0.store[absolute] = value }
        xen.fireWatches(changed: absolute)
    }

    public func read(_ path: String) throws(XenError) -> String? {
        if let e = xen.injectedFailure("xs_read") { throw .callFailed(function: "xs_read(\(path))", domid: nil, errno: e) }
        return xen.state.withLock { $0.store[Self.absolute(path)] }
    }

    public func watch(_ path: String, token: String) throws(XenError) {
        if let e = xen.injectedFailure("xs_watch") { throw .callFailed(function: "xs_watch(\(path))", domid: nil, errno: e) }
        let absolute = Self.absolute(path)
        try xen.state.withLock { (s: inout SimulatedXen.State) throws(XenError) in
            // xenstored refuses a second watch with the same path and token (EEXIST).
            guard !s.watches.contains(where: { $0.store === self && $0.path == absolute && $0.token == token }) else {
                throw .callFailed(function: "xs_watch(\(path))", domid: nil, errno: EEXIST)
            }
            s.watches.append(StoreWatch(store: self, path: absolute, token: token))
        }
        deliver(XenStoreWatchEvent(path: absolute, token: token))
    }

    public func unwatch(_ path: String, token: String) throws(XenError) {
        let absolute = Self.absolute(path)
        let removed = xen.state.withLock { s in
            let before = s.watches.count
            s.watches.removeAll { $0.store === self && $0.path == absolute && $0.token == token }
            return before != s.watches.count
        }
        guard removed else { throw .callFailed(function: "xs_unwatch(\(path))", domid: nil, errno: ENOENT) }
    }

    public func watchFileDescriptor() throws(XenError) -> Int32 { notifier.fd }

    public func nextWatchEvent() throws(XenError) -> XenStoreWatchEvent? {
        events.withLock { queue in
            guard !queue.isEmpty else { return nil }
            let event = queue.removeFirst()
            if queue.isEmpty { _ = notifier.drain() }
            return event
        }
    }

    /// Queues a watch event and makes the descriptor readable.
    func deliver(_ event: XenStoreWatchEvent) {
        events.withLock { queue in
            queue.append(event)
            try? notifier.signal()
        }
    }
}

/// A watch registered on one simulated store handle.
struct StoreWatch {
    weak var store: SimulatedXenStore?
    let path: String
    let token: String
}

extension SimulatedXen {
    /// Fires every watch on `path` or one of its ancestors (`fire_watches`), outside the lock.
    func fireWatches(changed path: String) {
        let hits: [(SimulatedXenStore, String)] = state.withLock { s in
            s.watches.compactMap { w in
                guard let store = w.store else { return nil }
                let covers = path == w.path || (!w.path.hasPrefix("@") && path.hasPrefix(w.path.hasSuffix("/") ? w.path : w.path + "/"))
                return covers ? (store, w.token) : nil
            }
        }
        for (store, token) in hits { store.deliver(XenStoreWatchEvent(path: path, token: token)) }
    }

    /// The domain dies, as after `xl destroy` or a guest power-off the toolstack acted on:
    /// Xen forgets it (every call about it fails with `ESRCH`), the toolstack removes its
    /// xenstore directory, and xenstored fires `@releaseDomain`.
    public func destroyDomain() {
        let home = homePath
        state.withLock { s in
            s.destroyed = true
            for key in s.store.keys where key == home || key.hasPrefix(home + "/") { s.store.removeValue(forKey: key) }
        }
        fireWatches(changed: "@releaseDomain")
    }

    /// Fires `@releaseDomain` alone, as when some other domain shuts down.
    public func fireReleaseDomain() {
        fireWatches(changed: "@releaseDomain")
    }

    /// True after ``destroyDomain()``.
    public var isDomainDestroyed: Bool { state.withLock { $0.destroyed } }
}
