/// virtio-net feature bits (virtio 1.2 §5.1.3).
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
    public static let guestAnnounce: UInt64 = 1 << 21
    public static let mq: UInt64 = 1 << 22
    public static let ctrlMACAddr: UInt64 = 1 << 23

    /// The receive offloads a guest that negotiated `features` can take, as tap offload bits
    /// (§5.1.6.4: GUEST_TSO*/ECN/UFO are only valid with GUEST_CSUM).
    public static func receiveOffloads(for features: UInt64) -> PacketOffloads {
        guard features & guestCsum != 0 else { return [] }
        var o: PacketOffloads = .checksum
        if features & guestTSO4 != 0 { o.insert(.tso4) }
        if features & guestTSO6 != 0 { o.insert(.tso6) }
        if features & guestECN != 0, features & (guestTSO4 | guestTSO6) != 0 { o.insert(.tsoECN) }
        if features & guestUFO != 0 { o.insert(.ufo) }
        return o
    }
}
