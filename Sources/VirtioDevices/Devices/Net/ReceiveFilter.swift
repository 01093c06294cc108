/// The rx filtering state the driver controls through the control queue
/// (`VIRTIO_NET_CTRL_RX`, `VIRTIO_NET_CTRL_MAC`; virtio 1.2 §5.1.6.5.1–2).
struct ReceiveFilter: Sendable {
    var promiscuous = true      // §5.1.6.5.1: promiscuous until the driver says otherwise
    var allMulticast = true
    var allUnicast = false
    var noMulticast = false
    var noUnicast = false
    var noBroadcast = false
    var unicastTable: Set<[UInt8]> = []
    var multicastTable: Set<[UInt8]> = []

    /// Whether a frame with destination `dest` (6 bytes) reaches a guest whose address is `mac`.
    func accepts(destination dest: UnsafeRawBufferPointer, mac: [UInt8]) -> Bool {
        guard dest.count >= 6 else { return false }
        if promiscuous { return true }
        let d = Array(dest.prefix(6))
        if d.allSatisfy({ $0 == 0xFF }) { return !noBroadcast }
        if d[0] & 1 != 0 {
            if noMulticast { return false }
            return allMulticast || multicastTable.contains(d)
        }
        if noUnicast { return false }
        return allUnicast || d == mac || unicastTable.contains(d)
    }
}
