/// The Xen store (libxenstore): the toolstack's key-value tree.
public protocol XenStore: AnyObject, Sendable {
    /// Writes `value` at `path` (`xs_write` outside a transaction). Relative paths are
    /// under the caller's domain home, `/local/domain/<own domid>/`.
    func write(_ value: String, at path: String) throws(XenError)

    /// Reads `path` (`xs_read`), or `nil` when it does not exist.
    func read(_ path: String) throws(XenError) -> String?
}
