/// Errors from a packet backend (a tap device, a test harness, …).
public enum PacketBackendError: Error, Equatable, CustomStringConvertible {
    /// Opening or attaching the interface failed; `existed` says whether an interface of
    /// that name was there before.
    case openFailed(name: String, errno: Int32, existed: Bool)
    /// An `ioctl` on the interface failed; `request` names it with its argument.
    case ioctlFailed(request: String, errno: Int32)
    /// Sending a frame failed (other than the backend being full).
    case sendFailed(errno: Int32)
    /// Receiving a frame failed (other than nothing being pending).
    case receiveFailed(errno: Int32)
    /// The interface name is empty, too long, or contains '/' or whitespace.
    case invalidName(String)
    /// A tap vnet header size the kernel does not take (below 10 bytes).
    case invalidVnetHeaderSize(Int)

    public var description: String {
        switch self {
        case .openFailed(let name, let e, let existed):
            "cannot \(existed ? "attach to" : "create") tap \(name): errno \(e)\(Self.explain(errno: e, existed: existed))"
        case .ioctlFailed(let r, let e): "\(r) failed: errno \(e)"
        case .sendFailed(let e): "packet send failed: errno \(e)"
        case .receiveFailed(let e): "packet receive failed: errno \(e)"
        case .invalidName(let n): "invalid interface name '\(n)' (1–15 characters, no '/' or whitespace)"
        case .invalidVnetHeaderSize(let s): "tap vnet header size \(s) is below the 10 bytes Linux needs"
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
