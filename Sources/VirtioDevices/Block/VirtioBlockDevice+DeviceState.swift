import DeviceModel
import Virtio

/// virtio-blk keeps no guest-controlled state of its own (its configuration space is
/// read-only and its requests complete before a quiesce ends); the record pins what the
/// driver was told, so a restore onto another image is refused instead of handing the guest a
/// disk of another size behind its back.
extension VirtioBlockDevice: DeviceStateful {
    static let stateKind = "virtio-blk"

    public func saveState(id: String) -> DeviceStateRecord {
        var r = DeviceStateRecord(id: id, kind: Self.stateKind, version: 1)
        r.set("capacity-bytes", capacityBytes)
        r.set("read-only", offeredFeatures & VirtioBlockFeature.readOnly != 0)
        return r
    }

    public func restoreState(_ r: DeviceStateRecord) throws(DeviceStateError) {
        try r.expect(kind: Self.stateKind, versions: 1...1)
        let capacity = try r.unsigned("capacity-bytes")
        guard capacity == capacityBytes else {
            throw r.invalid("capacity-bytes", capacity, expected: "\(capacityBytes), the size of \(configuration.path) now (the same disk image as when the snapshot was taken)")
        }
        let readOnly = try r.bool("read-only")
        guard readOnly == (offeredFeatures & VirtioBlockFeature.readOnly != 0) else {
            throw r.invalid("read-only", readOnly, expected: "the same read-only setting for \(configuration.path)")
        }
    }
}
