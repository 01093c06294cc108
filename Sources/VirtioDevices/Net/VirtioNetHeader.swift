import HostIO
import Virtio

/// `struct virtio_net_hdr` (virtio 1.2 §5.1.6): flags, gso_type, hdr_len, gso_size,
/// csum_start, csum_offset, then `num_buffers`.
///
/// With `VIRTIO_F_VERSION_1` or `VIRTIO_NET_F_MRG_RXBUF` it is 12 bytes; a legacy driver
/// without MRG_RXBUF uses the 10-byte form without `num_buffers` (§5.1.6.1 "Legacy
/// Interface"). Backends always see the 12-byte form; the device converts.
public enum VirtioNetHeader {
    /// The header with `num_buffers`, as the backend and modern drivers use it.
    public static let size = 12
    /// The legacy header without `num_buffers`.
    public static let legacySize = 10
    /// Offset of `num_buffers` (le16).
    public static let numBuffersOffset = 10
    /// Offset of `gso_type`.
    public static let gsoTypeOffset = 1

    /// `VIRTIO_NET_HDR_F_NEEDS_CSUM`.
    public static let flagNeedsCsum: UInt8 = 1
    /// `VIRTIO_NET_HDR_F_DATA_VALID`.
    public static let flagDataValid: UInt8 = 2
    /// `VIRTIO_NET_HDR_F_RSC_INFO`.
    public static let flagRSCInfo: UInt8 = 4

    /// `VIRTIO_NET_HDR_GSO_*`.
    public static let gsoNone: UInt8 = 0
    public static let gsoTCPv4: UInt8 = 1
    public static let gsoUDP: UInt8 = 3
    public static let gsoTCPv6: UInt8 = 4
    public static let gsoUDPL4: UInt8 = 5
    public static let gsoECN: UInt8 = 0x80

    /// The header size a driver with `features` uses.
    public static func size(for features: UInt64) -> Int {
        features & (VirtioFeature.version1 | VirtioNetFeature.mergeableRxBuffers) != 0 ? size : legacySize
    }

    /// Whether a received frame with `flags` and `gsoType` may go to a guest that takes
    /// `offloads` (§5.1.6.4.1: no partial checksum without GUEST_CSUM, no GSO type the
    /// guest did not negotiate, ECN only with GUEST_ECN).
    static func deliverable(flags: UInt8, gsoType: UInt8, to offloads: PacketOffloads) -> Bool {
        if flags & flagNeedsCsum != 0 && !offloads.contains(.checksum) { return false }
        let ecn = gsoType & gsoECN != 0
        switch gsoType & ~gsoECN {
        case gsoNone: return !ecn
        case gsoTCPv4: return offloads.contains(.tso4) && (!ecn || offloads.contains(.tsoECN))
        case gsoTCPv6: return offloads.contains(.tso6) && (!ecn || offloads.contains(.tsoECN))
        case gsoUDP: return offloads.contains(.ufo) && !ecn
        case gsoUDPL4: return offloads.contains(.uso4) && !ecn
        default: return false
        }
    }

    /// The flags a guest that takes `offloads` may see: none without GUEST_CSUM (§5.1.6.4.1
    /// "MUST set flags to zero"), otherwise NEEDS_CSUM and DATA_VALID (RSC_INFO needs
    /// RSC_EXT, which the device does not offer).
    static func guestFlags(_ flags: UInt8, for offloads: PacketOffloads) -> UInt8 {
        offloads.contains(.checksum) ? flags & (flagNeedsCsum | flagDataValid) : 0
    }
}
