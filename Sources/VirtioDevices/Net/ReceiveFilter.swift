/// The rx filtering state the driver controls through the control queue
/// (`VIRTIO_NET_CTRL_RX`, `VIRTIO_NET_CTRL_MAC`; virtio 1.2 §5.1.6.5.1–2). Reset gives a
/// fresh value: promiscuous (so drivers without CTRL_RX receive everything, as QEMU does),
/// empty MAC tables (§5.1.6.5.2.1).
///
/// Addresses are kept as 48-bit integers so filtering a frame allocates nothing.
struct ReceiveFilter: Sendable {
    var promiscuous = true
    var allMulticast = true
    var allUnicast = false
    var noMulticast = false
    var noUnicast = false
    var noBroadcast = false
    private(set) var unicastTable: Set<UInt64> = []
    private(set) var multicastTable: Set<UInt64> = []
    /// The driver gave more addresses than a table keeps: accept that whole class instead
    /// (the spec's footnote to §5.1.6.5.2 allows "silently switch to allmulti or promiscuous").
    private(set) var unicastOverflow = false
    private(set) var multicastOverflow = false

    /// Entries kept per table (QEMU keeps 64 in all).
    static let tableLimit = 64
    private static let broadcast: UInt64 = 0xFFFF_FFFF_FFFF

    /// Replaces both tables; a table given more than ``tableLimit`` entries overflows.
    mutating func setTables(unicast: some Collection<UInt64>, unicastCount: Int,
                            multicast: some Collection<UInt64>, multicastCount: Int) {
        unicastTable = Set(unicast)
        multicastTable = Set(multicast)
        unicastOverflow = unicastCount > Self.tableLimit
        multicastOverflow = multicastCount > Self.tableLimit
    }

    /// Whether a frame whose destination address starts at `frame` (at least 6 bytes)
    /// reaches a guest whose own address is `mac`.
    func accepts(destinationIn frame: UnsafeRawBufferPointer, mac: UInt64) -> Bool {
        if promiscuous { return true }
        guard frame.count >= 6 else { return false }
        let d = MACAddress.key(frame)
        if d == Self.broadcast { return !noBroadcast }
        if frame[0] & 1 != 0 {
            if noMulticast { return false }
            return allMulticast || multicastOverflow || multicastTable.contains(d)
        }
        if noUnicast { return false }
        return allUnicast || unicastOverflow || d == mac || unicastTable.contains(d)
    }
}
