/// Errors from a packet backend (a tap device, a test harness, …).
public enum PacketBackendError: Error, Equatable, CustomStringConvertible {
    case openFailed(name: String, errno: Int32)
    case ioctlFailed(request: String, errno: Int32)
    case sendFailed(errno: Int32)
    case receiveFailed(errno: Int32)
    case invalidName(String)

    public var description: String {
        switch self {
        case .openFailed(let name, let e):
            "cannot open tap \(name): errno \(e)\(e == 1 ? " (needs CAP_NET_ADMIN to create it)" : "")"
        case .ioctlFailed(let r, let e): "\(r) failed: errno \(e)"
        case .sendFailed(let e): "packet send failed: errno \(e)"
        case .receiveFailed(let e): "packet receive failed: errno \(e)"
        case .invalidName(let n): "invalid interface name '\(n)' (1–15 characters, no '/' or whitespace)"
        }
    }
}

/// Offloads the backend may hand to the device on receive (what the guest negotiated it
/// can take), mapped to `TUNSETOFFLOAD` bits for a tap.
public struct PacketOffloads: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Packets may carry a partial checksum (`TUN_F_CSUM`).
    public static let checksum = PacketOffloads(rawValue: 0x01)
    /// TCPv4 segmentation offload (`TUN_F_TSO4`).
    public static let tso4 = PacketOffloads(rawValue: 0x02)
    /// TCPv6 segmentation offload (`TUN_F_TSO6`).
    public static let tso6 = PacketOffloads(rawValue: 0x04)
    /// TSO with ECN (`TUN_F_TSO_ECN`).
    public static let tsoECN = PacketOffloads(rawValue: 0x08)
    /// UDP fragmentation offload (`TUN_F_UFO`).
    public static let ufo = PacketOffloads(rawValue: 0x10)
}

/// Where a network device's frames go: each frame is preceded by the 12-byte
/// `virtio_net_hdr_v1` the guest wrote (tx) or the backend fills (rx).
///
/// Backends are non-blocking: `send`/`receive` return `nil` on EAGAIN, and the device waits
/// for ``pollFD`` readiness instead of spinning.
public protocol PacketBackend: AnyObject, Sendable {
    /// A file descriptor that polls readable when a frame can be received and writable when
    /// one can be sent.
    var pollFD: Int32 { get }
    /// Sends one frame gathered from `segments` (header first). Returns `nil` when the
    /// backend is full (retry once ``pollFD`` is writable).
    func send(_ segments: [UnsafeRawBufferPointer]) throws(PacketBackendError) -> Int?
    /// Receives one frame (header first) scattered into `segments`. Returns its length, or
    /// `nil` when no frame is pending.
    func receive(into segments: [UnsafeMutableRawBufferPointer]) throws(PacketBackendError) -> Int?
    /// Tells the backend which offloads the guest can accept on receive.
    func setOffloads(_ offloads: PacketOffloads) throws(PacketBackendError)
}
