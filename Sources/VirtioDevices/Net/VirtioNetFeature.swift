import HostIO
import Virtio

/// virtio-net feature bits (virtio 1.2 §5.1.3) and the rules that tie them together.
public enum VirtioNetFeature {
    public static let csum: UInt64 = 1 << 0
    public static let guestCsum: UInt64 = 1 << 1
    public static let ctrlGuestOffloads: UInt64 = 1 << 2
    public static let mtu: UInt64 = 1 << 3
    public static let mac: UInt64 = 1 << 5
    public static let guestTSO4: UInt64 = 1 << 7
    public static let guestTSO6: UInt64 = 1 << 8
    public static let guestECN: UInt64 = 1 << 9
    public static let guestUFO: UInt64 = 1 << 10
    public static let hostTSO4: UInt64 = 1 << 11
    public static let hostTSO6: UInt64 = 1 << 12
    public static let hostECN: UInt64 = 1 << 13
    public static let hostUFO: UInt64 = 1 << 14
    public static let mergeableRxBuffers: UInt64 = 1 << 15
    public static let status: UInt64 = 1 << 16
    public static let ctrlVQ: UInt64 = 1 << 17
    public static let ctrlRx: UInt64 = 1 << 18
    public static let ctrlVLAN: UInt64 = 1 << 19
    public static let ctrlRxExtra: UInt64 = 1 << 20
    public static let guestAnnounce: UInt64 = 1 << 21
    public static let mq: UInt64 = 1 << 22
    public static let ctrlMACAddr: UInt64 = 1 << 23
    public static let guestUSO4: UInt64 = 1 << 54
    public static let guestUSO6: UInt64 = 1 << 55
    public static let hostUSO: UInt64 = 1 << 56

    /// The receive offloads `VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET` may switch (§5.1.6.5.6.1):
    /// the `GUEST_*` bits.
    public static let guestOffloads: UInt64 =
        guestCsum | guestTSO4 | guestTSO6 | guestECN | guestUFO | guestUSO4 | guestUSO6

    /// §5.1.3.1: each feature on the left is only valid together with at least one of the
    /// features on the right (plus the two control-queue features the table leaves implicit:
    /// CTRL_RX_EXTRA and CTRL_GUEST_OFFLOADS are commands on that queue).
    public static let requirements: [(feature: UInt64, anyOf: UInt64)] = [
        (guestTSO4, guestCsum), (guestTSO6, guestCsum), (guestECN, guestTSO4 | guestTSO6),
        (guestUFO, guestCsum), (guestUSO4, guestCsum), (guestUSO6, guestCsum),
        (hostTSO4, csum), (hostTSO6, csum), (hostECN, hostTSO4 | hostTSO6),
        (hostUFO, csum), (hostUSO, csum),
        (ctrlRx, ctrlVQ), (ctrlVLAN, ctrlVQ), (guestAnnounce, ctrlVQ), (mq, ctrlVQ), (ctrlMACAddr, ctrlVQ),
        (ctrlRxExtra, ctrlVQ), (ctrlGuestOffloads, ctrlVQ),
    ]

    /// `features` without the bits whose requirements (§5.1.3.1) are missing, applied until
    /// nothing changes (GUEST_ECN falls with GUEST_TSO4, which falls with GUEST_CSUM).
    ///
    /// A driver must not accept such a set (§2.2.1); the device does not refuse it but acts
    /// as if the unsupported bits were clear.
    public static func effective(_ features: UInt64) -> UInt64 {
        var f = features
        var changed = true
        while changed {
            changed = false
            for r in requirements where f & r.feature != 0 && f & r.anyOf == 0 {
                f &= ~r.feature
                changed = true
            }
        }
        return f
    }

    /// The features a device over a backend that handles `offloads` offers, besides the
    /// transport bits: each offload in both directions (CSUM/GUEST_CSUM, HOST_/GUEST_TSO4…),
    /// USO only when the backend has it for both IP versions (a tap enables the two together).
    public static func offloadFeatures(for offloads: PacketOffloads) -> UInt64 {
        guard offloads.contains(.checksum) else { return 0 }
        var f = csum | guestCsum
        if offloads.contains(.tso4) { f |= hostTSO4 | guestTSO4 }
        if offloads.contains(.tso6) { f |= hostTSO6 | guestTSO6 }
        if offloads.contains(.tsoECN), offloads.contains(.tso4) || offloads.contains(.tso6) { f |= hostECN | guestECN }
        if offloads.contains(.ufo) { f |= hostUFO | guestUFO }
        if offloads.isSuperset(of: [.uso4, .uso6]) { f |= hostUSO | guestUSO4 | guestUSO6 }
        return f
    }

    /// The receive offloads a guest with `features` (negotiated, or set by
    /// `VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET`) can take, as backend offload bits. Invalid
    /// combinations count as absent (§5.1.3.1); USO needs both GUEST_USO4 and GUEST_USO6,
    /// as a tap cannot enable one without the other.
    public static func receiveOffloads(for features: UInt64) -> PacketOffloads {
        let f = effective(features)
        guard f & guestCsum != 0 else { return [] }
        var o: PacketOffloads = .checksum
        if f & guestTSO4 != 0 { o.insert(.tso4) }
        if f & guestTSO6 != 0 { o.insert(.tso6) }
        if f & guestECN != 0 { o.insert(.tsoECN) }
        if f & guestUFO != 0 { o.insert(.ufo) }
        if f & guestUSO4 != 0, f & guestUSO6 != 0 { o.formUnion([.uso4, .uso6]) }
        return o
    }

    private static let names: [(UInt64, String)] = [
        (csum, "CSUM"), (guestCsum, "GUEST_CSUM"), (ctrlGuestOffloads, "CTRL_GUEST_OFFLOADS"), (mtu, "MTU"),
        (mac, "MAC"), (guestTSO4, "GUEST_TSO4"), (guestTSO6, "GUEST_TSO6"), (guestECN, "GUEST_ECN"),
        (guestUFO, "GUEST_UFO"), (hostTSO4, "HOST_TSO4"), (hostTSO6, "HOST_TSO6"), (hostECN, "HOST_ECN"),
        (hostUFO, "HOST_UFO"), (mergeableRxBuffers, "MRG_RXBUF"), (status, "STATUS"), (ctrlVQ, "CTRL_VQ"),
        (ctrlRx, "CTRL_RX"), (ctrlVLAN, "CTRL_VLAN"), (ctrlRxExtra, "CTRL_RX_EXTRA"),
        (guestAnnounce, "GUEST_ANNOUNCE"), (mq, "MQ"), (ctrlMACAddr, "CTRL_MAC_ADDR"),
        (guestUSO4, "GUEST_USO4"), (guestUSO6, "GUEST_USO6"), (hostUSO, "HOST_USO"),
        (VirtioFeature.indirectDescriptors, "INDIRECT_DESC"), (VirtioFeature.eventIndex, "EVENT_IDX"),
        (VirtioFeature.version1, "VERSION_1"),
    ]

    /// The spec names of the bits in `features` (unknown bits as `bit N`), for logs.
    public static func describe(_ features: UInt64) -> String {
        var parts: [String] = []
        var rest = features
        for (bit, name) in names where features & bit != 0 {
            parts.append(name)
            rest &= ~bit
        }
        for i in 0..<64 where rest & (1 << UInt64(i)) != 0 { parts.append("bit \(i)") }
        return parts.joined(separator: " ")
    }
}
