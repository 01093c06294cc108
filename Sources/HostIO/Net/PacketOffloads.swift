/// Packet offloads, as `TUNSETOFFLOAD` bits (linux/if_tun.h): what the backend can take
/// from the guest and what it may hand to a guest that negotiated it.
public struct PacketOffloads: OptionSet, Sendable, Hashable {
    /// The `TUN_F_*` bits.
    public let rawValue: UInt32
    /// The offloads whose `TUN_F_*` bits are set in `rawValue`.
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

    /// Every offload named here.
    public static let all: PacketOffloads = [.checksum, .tso4, .tso6, .tsoECN, .ufo, .uso4, .uso6]
}
