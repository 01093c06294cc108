import DeviceModel
import Virtio

/// virtio-console's guest-visible state: port 0's protocol state (the driver answered
/// `PORT_READY`, the guest has the port open), the control messages not yet in a guest buffer,
/// and the bytes the guest transmitted that the backend had not taken (the rest of a chain
/// parked on a full stream, at most ``ConsolePort/pendingOutputLimit`` of it: a larger chain
/// loses its tail in a snapshot), which a restored device writes first. The backend itself (stdio,
/// a socket, a file) is the new process's, and its open state is announced again.
///
/// Saving freezes transmit and the control queues until the reset that follows it (a save is
/// always followed by the device's stop): a message or byte handled after the record was taken
/// would otherwise be both done and in the record. A device restarted from saved state
/// (``Virtio/VirtioActivation/continuesSavedState``) serves them only once its record is loaded.
extension VirtioConsoleDevice: DeviceStateful {
    static let stateKind = "virtio-console"

    public func saveState(id: String) -> DeviceStateRecord {
        let port = self.port
        let saved = service.loop.sync { port.holdForSave() }
        var r = DeviceStateRecord(id: id, kind: Self.stateKind, version: 1)
        r.set("active", saved.active)
        r.set("multiport", saved.multiport)
        r.set("guest-open", saved.guestOpen)
        r.set("ready", saved.ready)
        r.set("control-lengths", array: saved.outbox.map { UInt64($0.count) })
        r.set("control-outbox", bytes: saved.outbox.flatMap { $0 })
        r.set("pending-output", bytes: saved.pendingOutput)
        return r
    }

    /// Loads `r` into a device the transport has just restarted (or one that is not running,
    /// whose record must say so), and serves its queues again.
    public func restoreState(_ r: DeviceStateRecord) throws(DeviceStateError) {
        try r.expect(kind: Self.stateKind, versions: 1...1)
        let port = self.port
        let current = service.loop.sync { (active: port.isActive, multiport: port.isMultiport) }
        var saved = ConsolePort.SavedState()
        saved.active = try r.bool("active")
        guard saved.active == current.active else {
            throw r.invalid("active", saved.active, expected: "\(current.active), as the transport restarted the device")
        }
        saved.multiport = try r.bool("multiport")
        guard saved.multiport == current.multiport else {
            throw r.invalid("multiport", saved.multiport, expected: "\(current.multiport), as the driver negotiated VIRTIO_CONSOLE_F_MULTIPORT")
        }
        saved.guestOpen = try r.bool("guest-open")
        saved.ready = try r.bool("ready")
        if saved.active && !saved.multiport {
            // Without the control queues the port is open from activation on and never "ready".
            guard saved.guestOpen, !saved.ready else {
                throw r.invalid("guest-open", "\(saved.guestOpen), ready \(saved.ready)", expected: "open and not ready without multiport")
            }
        } else if !saved.active, saved.guestOpen || saved.ready {
            throw r.invalid("guest-open", "\(saved.guestOpen), ready \(saved.ready)", expected: "closed for a device the driver has not started")
        }
        let lengths = try r.unsignedArray("control-lengths", max: UInt64(ConsoleControlMessage.headerSize + 255))
        guard lengths.count <= ConsolePort.outboxLimit, saved.multiport || lengths.isEmpty else {
            throw r.invalid("control-lengths", "\(lengths.count) messages", expected: saved.multiport ? "at most \(ConsolePort.outboxLimit)" : "none without multiport")
        }
        let bytes = try r.bytes("control-outbox", count: Int(lengths.reduce(0, +)))
        var at = 0
        for (i, length) in lengths.enumerated() {
            let message = Array(bytes[at..<at + Int(length)])
            at += Int(length)
            // Only what this device sends: known events for port 0.
            guard let parsed = ConsoleControlMessage(message), parsed.id == 0 else {
                throw r.invalid("control-outbox", "message \(i) (\(length) bytes)", expected: "a control message for port 0")
            }
            saved.outbox.append(message)
        }
        saved.pendingOutput = try r.bytes("pending-output", maxCount: ConsolePort.pendingOutputLimit)
        guard saved.active || saved.pendingOutput.isEmpty else {
            throw r.invalid("pending-output", "\(saved.pendingOutput.count) bytes", expected: "none for a device the driver has not started")
        }
        let service = self.service
        let queues = queueMaxSizes.indices
        let loaded = saved
        service.loop.sync {
            port.load(loaded)
            // Requests that waited for the record.
            for index in queues { service.queue(index)?.resume() }
        }
    }
}
