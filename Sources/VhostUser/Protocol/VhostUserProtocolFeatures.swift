/// `VHOST_USER_PROTOCOL_F_*` bits (vhost-user.rst "Protocol features").
public struct VhostUserProtocolFeatures: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Multiple queues; enables `GET_QUEUE_NUM`.
    public static let multiQueue = Self(rawValue: 1 << 0)
    public static let logSharedMemory = Self(rawValue: 1 << 1)
    public static let rarp = Self(rawValue: 1 << 2)
    /// `NEED_REPLY` requests an ack for requests without their own reply.
    public static let replyAck = Self(rawValue: 1 << 3)
    public static let netMTU = Self(rawValue: 1 << 4)
    /// The backend channel (`SET_BACKEND_REQ_FD`) for backend-initiated requests.
    public static let backendRequest = Self(rawValue: 1 << 5)
    public static let crossEndian = Self(rawValue: 1 << 6)
    public static let cryptoSession = Self(rawValue: 1 << 7)
    public static let pagefault = Self(rawValue: 1 << 8)
    /// `GET_CONFIG`/`SET_CONFIG` and the config-change backend request.
    public static let config = Self(rawValue: 1 << 9)
    public static let backendSendFD = Self(rawValue: 1 << 10)
    public static let hostNotifier = Self(rawValue: 1 << 11)
    public static let inflightSharedMemory = Self(rawValue: 1 << 12)
    /// `RESET_DEVICE` (replaces the deprecated `RESET_OWNER`).
    public static let resetDevice = Self(rawValue: 1 << 13)
    public static let inbandNotifications = Self(rawValue: 1 << 14)
    public static let configureMemSlots = Self(rawValue: 1 << 15)
    public static let status = Self(rawValue: 1 << 16)

    public var description: String {
        let names: [(Self, String)] = [
            (.multiQueue, "MQ"), (.logSharedMemory, "LOG_SHMFD"), (.rarp, "RARP"), (.replyAck, "REPLY_ACK"),
            (.netMTU, "NET_MTU"), (.backendRequest, "BACKEND_REQ"), (.crossEndian, "CROSS_ENDIAN"),
            (.cryptoSession, "CRYPTO_SESSION"), (.pagefault, "PAGEFAULT"), (.config, "CONFIG"),
            (.backendSendFD, "BACKEND_SEND_FD"), (.hostNotifier, "HOST_NOTIFIER"),
            (.inflightSharedMemory, "INFLIGHT_SHMFD"), (.resetDevice, "RESET_DEVICE"),
            (.inbandNotifications, "INBAND_NOTIFICATIONS"), (.configureMemSlots, "CONFIGURE_MEM_SLOTS"),
            (.status, "STATUS"),
        ]
        let known = names.filter { contains($0.0) }.map(\.1)
        let unknown = rawValue & ~names.reduce(0) { $0 | $1.0.rawValue }
        return (known + (unknown != 0 ? ["0x\(String(unknown, radix: 16))"] : [])).joined(separator: "|")
    }

    /// What this backend implements: multiple queues, acks, the backend channel (for
    /// config-change notifications), the configuration space, and device reset.
    public static let supported: Self = [.multiQueue, .replyAck, .backendRequest, .config, .resetDevice]
}

/// Virtio-level feature bits that only exist in vhost-user.
public enum VhostUserFeature {
    /// `VHOST_USER_F_PROTOCOL_FEATURES` (bit 30): the backend understands
    /// `GET/SET_PROTOCOL_FEATURES`; rings start disabled (vhost-user.rst "Ring states").
    public static let protocolFeatures: UInt64 = 1 << 30
    /// `VHOST_F_LOG_ALL` (bit 26): dirty-page logging for migration. Not offered.
    public static let logAll: UInt64 = 1 << 26
}
