/// The Xen store (libxenstore): the toolstack's key-value tree.
public protocol XenStore: AnyObject, Sendable {
    /// Writes `value` at `path` (`xs_write` outside a transaction). Relative paths are
    /// under the caller's domain home, `/local/domain/<own domid>/`.
    func write(_ value: String, at path: String) throws(XenError)

    /// Reads `path` (`xs_read`), or `nil` when it does not exist.
    func read(_ path: String) throws(XenError) -> String?

    /// Watches `path` and everything below it (`xs_watch`). The special paths
    /// `@releaseDomain` and `@introduceDomain` fire when any domain is shut down or
    /// destroyed, or introduced. As xenstored does, every new watch fires once at once.
    /// Events queue until ``nextWatchEvent()`` takes them.
    func watch(_ path: String, token: String) throws(XenError)

    /// Removes a watch set with ``watch(_:token:)`` (`xs_unwatch`).
    func unwatch(_ path: String, token: String) throws(XenError)

    /// A descriptor that is readable while watch events are queued (`xs_fileno`).
    func watchFileDescriptor() throws(XenError) -> Int32

    /// The next queued watch event, or `nil` when none is (`xs_check_watch`, which never
    /// blocks).
    func nextWatchEvent() throws(XenError) -> XenStoreWatchEvent?
}

/// One firing of a xenstore watch: the path that changed and the watch's token.
public struct XenStoreWatchEvent: Sendable, Hashable {
    public var path: String
    public var token: String

    public init(path: String, token: String) {
        self.path = path
        self.token = token
    }
}
