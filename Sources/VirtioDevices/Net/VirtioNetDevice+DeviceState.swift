import DeviceModel
import Virtio

/// virtio-net's guest-controlled state: the MAC address (settable through the control queue
/// or, legacy, configuration space), the receive filter (`VIRTIO_NET_CTRL_RX`/`_MAC`) and,
/// with several pairs, how many the driver put in use (`VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET`).
/// Frames in flight are not state: a NIC reset drops them too, and TCP resends.
extension VirtioNetDevice: DeviceStateful {
    static let stateKind = "virtio-net"

    public func saveState(id: String) -> DeviceStateRecord {
        var r = DeviceStateRecord(id: id, kind: Self.stateKind, version: 1)
        r.set("mac", mac.key)
        // Every pair filters alike (the control queue hands its filter to all of them).
        if let path = dataPaths.withLock({ $0.first }) {
            let (f, pairs) = path.loop.sync { (path.filter, path.activePairs) }
            if configuration.queuePairs > 1 { r.set("queue-pairs", UInt64(pairs)) }
            r.set("promiscuous", f.promiscuous)
            r.set("all-multicast", f.allMulticast)
            r.set("all-unicast", f.allUnicast)
            r.set("no-multicast", f.noMulticast)
            r.set("no-unicast", f.noUnicast)
            r.set("no-broadcast", f.noBroadcast)
            r.set("unicast-table", array: f.unicastTable.sorted() as [UInt64])
            r.set("multicast-table", array: f.multicastTable.sorted() as [UInt64])
            r.set("unicast-overflow", f.unicastOverflow)
            r.set("multicast-overflow", f.multicastOverflow)
        }
        return r
    }

    /// Loads the MAC, and the receive filter into the running data path (call after the
    /// transport restarted the device).
    public func restoreState(_ r: DeviceStateRecord) throws(DeviceStateError) {
        try r.expect(kind: Self.stateKind, versions: 1...1)
        let key = try r.unsigned("mac", max: 0xFFFF_FFFF_FFFF)
        var filter: ReceiveFilter?
        if r.value("promiscuous") != nil {
            var f = ReceiveFilter()
            f.promiscuous = try r.bool("promiscuous")
            f.allMulticast = try r.bool("all-multicast")
            f.allUnicast = try r.bool("all-unicast")
            f.noMulticast = try r.bool("no-multicast")
            f.noUnicast = try r.bool("no-unicast")
            f.noBroadcast = try r.bool("no-broadcast")
            let unicast = try r.unsignedArray("unicast-table", max: 0xFFFF_FFFF_FFFF)
            let multicast = try r.unsignedArray("multicast-table", max: 0xFFFF_FFFF_FFFF)
            guard unicast.count <= ReceiveFilter.tableLimit, multicast.count <= ReceiveFilter.tableLimit else {
                throw r.invalid("unicast-table", "\(unicast.count)+\(multicast.count) entries", expected: "at most \(ReceiveFilter.tableLimit) per table")
            }
            let uOver = try r.bool("unicast-overflow")
            let mOver = try r.bool("multicast-overflow")
            f.setTables(unicast: unicast, unicastCount: uOver ? ReceiveFilter.tableLimit + 1 : unicast.count,
                        multicast: multicast, multicastCount: mOver ? ReceiveFilter.tableLimit + 1 : multicast.count)
            filter = f
        }
        // Absent in records of single-pair devices (and older ones): one pair.
        let pairs = r.value("queue-pairs") == nil ? nil : Int(try r.unsigned("queue-pairs", max: UInt64(configuration.queuePairs)))
        if let pairs, pairs < 1 {
            throw r.invalid("queue-pairs", pairs, expected: "1...\(configuration.queuePairs), the pairs VQ_PAIRS_SET put in use")
        }
        mac.set(MACAddress(key: key))
        let paths = dataPaths.withLock { $0 }
        if let filter {
            for path in paths {
                path.loop.sync { path.filter = filter }
            }
        }
        if let pairs, let first = paths.first {
            first.loop.sync { first.useQueuePairs(pairs) }
        }
    }
}
