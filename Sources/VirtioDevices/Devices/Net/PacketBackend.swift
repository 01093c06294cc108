/// Errors from a packet backend (a tap device, a test harness, …).
public enum PacketBackendError: Error, Equatable, CustomStringConvertible {
    /// Opening or attaching the interface failed; `existed` says whether an interface of
    /// that name was there before.
    case openFailed(name: String, errno: Int32, existed: Bool)
    case ioctlFailed(request: String, errno: Int32)
    case sendFailed(errno: Int32)
    case receiveFailed(errno: Int32)
    case invalidName(String)

    public var description: String {
        switch self {
        case .openFailed(let name, let e, let existed):
            "cannot \(existed ? "attach to" : "create") tap \(name): errno \(e)\(Self.explain(errno: e, existed: existed))"
        case .ioctlFailed(let r, let e): "\(r) failed: errno \(e)"
        case .sendFailed(let e): "packet send failed: errno \(e)"
        case .receiveFailed(let e): "packet receive failed: errno \(e)"
        case .invalidName(let n): "invalid interface name '\(n)' (1–15 characters, no '/' or whitespace)"
        }
    }

    private static func explain(errno e: Int32, existed: Bool) -> String {
        switch (e, existed) {
        case (1, false): " (creating a tap needs CAP_NET_ADMIN)"
        case (1, true): " (the tap belongs to another user or group, or needs CAP_NET_ADMIN)"
        case (2, _), (19, _): " (/dev/net/tun is missing: load the tun module)"
        case (13, _): " (no permission to open /dev/net/tun)"
        case (16, _): " (another process has it open)"
        case (22, true): " (an interface of that name exists and is not a tap)"
        default: ""
        }
    }
}

/// Packet offloads, as `TUNSETOFFLOAD` bits (linux/if_tun.h): what the backend can take
/// from the guest and what it may hand to a guest that negotiated it.
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
    /// UDP segmentation offload for IPv4 (`TUN_F_USO4`, Linux 6.2+).
    public static let uso4 = PacketOffloads(rawValue: 0x20)
    /// UDP segmentation offload for IPv6 (`TUN_F_USO6`, Linux 6.2+).
    public static let uso6 = PacketOffloads(rawValue: 0x40)

    /// Every offload a virtio-net device knows.
    public static let all: PacketOffloads = [.checksum, .tso4, .tso6, .tsoECN, .ufo, .uso4, .uso6]
}

/// Where a network device's frames go: each frame is preceded by the 12-byte
/// `virtio_net_hdr_v1` (with `num_buffers`) the guest wrote (tx) or the backend fills (rx),
/// whatever header size the guest uses — the device converts.
///
/// Backends are non-blocking: `send`/`receive` return `nil` on EAGAIN, and the device waits
/// for ``pollFD`` readiness instead of spinning. The device calls them from its I/O thread.
public protocol PacketBackend: AnyObject, Sendable {
    /// A file descriptor that polls readable when a frame can be received and writable when
    /// one can be sent.
    var pollFD: Int32 { get }
    /// The offloads the backend handles in both directions: frames from the guest may use
    /// them, and ``setOffloads(_:)`` may enable them towards the guest. The device offers
    /// the matching feature bits.
    var supportedOffloads: PacketOffloads { get }
    /// Sends one frame gathered from `segments` (header first). Returns the bytes sent, or
    /// `nil` when the backend is full (retry once ``pollFD`` is writable).
    func send(_ segments: [UnsafeRawBufferPointer]) throws(PacketBackendError) -> Int?
    /// Receives one frame (header first) into `buffer`. Returns its length, or `nil` when no
    /// frame is pending.
    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(PacketBackendError) -> Int?
    /// Tells the backend which offloads the guest can accept on receive (a subset of
    /// ``supportedOffloads``).
    func setOffloads(_ offloads: PacketOffloads) throws(PacketBackendError)
}
