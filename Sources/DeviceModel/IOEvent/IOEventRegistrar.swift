/// "A write of `size` bytes at `address` in `space` (optionally only of value `datamatch`)
/// signals this notifier" — an ioeventfd.
public struct IOEventMatch: Sendable, Hashable, CustomStringConvertible {
    /// The address space written to.
    public var space: IOSpace
    /// The exact address of the write.
    public var address: UInt64
    /// Access width in bytes the match requires (1, 2, 4 or 8).
    public var size: Int
    /// When set, only writes of exactly this value match (`KVM_IOEVENTFD_FLAG_DATAMATCH`).
    public var datamatch: UInt64?

    /// A match for writes of `size` bytes at `address`; of value `datamatch` only, when given.
    public init(space: IOSpace, address: UInt64, size: Int, datamatch: UInt64? = nil) {
        self.space = space
        self.address = address
        self.size = size
        self.datamatch = datamatch
    }

    /// True when a write of `value` (`size` bytes) at `address` in `space` triggers this match.
    ///
    /// As in KVM (`ioeventfd_in_range`), the written value is zero-extended from `size`
    /// bytes and compared with the whole `datamatch`: a datamatch wider than `size` never matches.
    public func matches(space: IOSpace, address: UInt64, size: Int, value: UInt64) -> Bool {
        guard space == self.space, address == self.address, size == self.size else { return false }
        if let datamatch { return value & IORequest.mask(forSize: size) == datamatch }
        return true
    }

    /// True when KVM would refuse to register both `self` and `other` (`EEXIST`): same space,
    /// address and size, and either is a wildcard or both match the same value.
    public func collides(with other: IOEventMatch) -> Bool {
        guard space == other.space, address == other.address, size == other.size else { return false }
        guard let a = datamatch, let b = other.datamatch else { return true }
        return a == b
    }

    public var description: String {
        var s = "\(space) 0x\(String(address, radix: 16))/\(size)"
        if let datamatch { s += " == 0x\(String(datamatch, radix: 16))" }
        return s
    }
}

/// Errors from registering an ioeventfd.
public enum IOEventError: Error, Equatable, CustomStringConvertible {
    /// The new match collides with this registered one (KVM: `EEXIST`).
    case duplicate(IOEventMatch)
    /// Nothing equal to this match is registered.
    case notRegistered(IOEventMatch)
    /// The match's size is not 1, 2, 4 or 8.
    case invalidSize(Int)
    /// The backend refused (e.g. the `KVM_IOEVENTFD` ioctl), with its errno.
    case backend(what: String, errno: Int32)

    public var description: String {
        switch self {
        case .duplicate(let m): "ioeventfd \(m) is already registered"
        case .notRegistered(let m): "ioeventfd \(m) is not registered"
        case .invalidSize(let s): "ioeventfd access size \(s) is not 1, 2, 4 or 8"
        case .backend(let what, let e): "ioeventfd registration failed: \(what) (errno \(e))"
        }
    }
}

/// Registers ioeventfds with the backend: `KVM_IOEVENTFD` in the kernel on KVM, or
/// ``SoftwareIOEvents`` (checked by ``IODispatcher`` before any handler) elsewhere.
///
/// Transports register their queue-notify addresses here so a device's notify path is the
/// same on every backend: the notifier fires, the device's event loop runs. Every
/// implementation refuses what KVM refuses: a match that ``IOEventMatch/collides(with:)``
/// a registered one throws ``IOEventError/duplicate(_:)``; so at most one registration
/// answers any write.
public protocol IOEventRegistrar: AnyObject, Sendable {
    /// From now on, writes that satisfy `match` signal `notifier` instead of reaching a handler.
    func register(_ match: IOEventMatch, notifier: EventNotifier) throws(IOEventError)
    /// Removes the registration equal to `match`.
    func unregister(_ match: IOEventMatch) throws(IOEventError)
}
