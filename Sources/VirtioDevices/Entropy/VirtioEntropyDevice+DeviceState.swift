import DeviceModel
import Virtio

/// virtio-rng has no state beyond its queue: the record only says which device it was.
extension VirtioEntropyDevice: DeviceStateful {
    static let stateKind = "virtio-rng"

    public func saveState(id: String) -> DeviceStateRecord {
        DeviceStateRecord(id: id, kind: Self.stateKind, version: 1)
    }

    public func restoreState(_ r: DeviceStateRecord) throws(DeviceStateError) {
        try r.expect(kind: Self.stateKind, versions: 1...1)
    }
}
