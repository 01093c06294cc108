import DeviceModel
import Virtio

/// virtio-gpu's saved state: `events_read` and the 2D state (``GPUState``'s record: resources
/// with their pixels and guest-physical backing, scanouts, cursors), as QEMU's `virtio-gpu`
/// migration stream carries them.
///
/// Saving freezes the queues until the reset that follows it (a save is always followed by
/// the device's stop): a command served after the record was taken would otherwise be both
/// completed in the guest's ring and missing from the record. A device restarted from saved
/// state (``Virtio/VirtioActivation/continuesSavedState``) takes no command until its record
/// is loaded, so commands the guest queued before the snapshot meet the resources they name.
extension VirtioGPUDevice: DeviceStateful {
    static let stateKind = "virtio-gpu"

    public func saveState(id: String) -> DeviceStateRecord {
        var r = DeviceStateRecord(id: id, kind: Self.stateKind, version: 1)
        r.set("scanout-count", UInt64(configuration.scanouts.count))
        r.set("events-read", events.withLock { $0.read })
        // On the I/O thread, between two passes over the queues: a pass in progress would take
        // further commands after the hold.
        let renderer = self.renderer
        let base = r
        return service.loop.sync {
            var record = base
            renderer.withUncheckedState { s in
                s.held = true
                s.save(into: &record)
            }
            return record
        }
    }

    /// Loads `r` into a device the transport has just restarted (or one that is not running,
    /// whose record must then be empty), and serves its queues again.
    public func restoreState(_ r: DeviceStateRecord) throws(DeviceStateError) {
        try r.expect(kind: Self.stateKind, versions: 1...1)
        let scanouts = try r.unsigned("scanout-count")
        guard scanouts == UInt64(configuration.scanouts.count) else {
            throw r.invalid("scanout-count", scanouts, expected: "\(configuration.scanouts.count), this device's scanouts")
        }
        let read: UInt32 = try r.integer("events-read")
        let memory = events.withLock { $0.memory }
        guard read & ~VirtioGPUProtocol.eventDisplay == 0, memory != nil || read == 0 else {
            throw r.invalid("events-read", read, expected: memory == nil ? "0 for a device the driver has not started" : "only VIRTIO_GPU_EVENT_DISPLAY (1)")
        }
        try renderer.withState { (s: inout GPUState) throws(DeviceStateError) in
            let loaded = try s.loaded(from: r, memory: memory)
            try s.apply(loaded, from: r)
        }
        events.withLock { $0.read = read }
        renderer.setHeld(false)
        // Commands that waited for the record.
        let service = self.service
        service.loop.execute {
            for index in [VirtioGPUProtocol.controlQueue, VirtioGPUProtocol.cursorQueue] { service.queue(index)?.resume() }
        }
    }
}
