import DeviceModel

/// Saved state of the virtio transports: the transport-independent registers and queue
/// positions (``VirtioTransportCore``), plus the transport's interrupt status. The PCI
/// function around a virtio-pci transport (BARs, MSI-X) is saved by its bus
/// (``PCIBus/saveFunctionState(device:function:id:)``), the device's own state by the device.
///
/// Saving a running device needs it stopped at a safe point first (``quiesce()``): its
/// in-flight requests complete into the used rings, so the record's queue positions account
/// for every request, and none is lost or repeated when the restored device continues.
/// A virtio transport whose state can be saved: stopped at a safe point, saved, resumed or
/// restored, whatever the transport and device type.
public protocol VirtioTransportStateful: DeviceStateful {
    /// Stops the device at a safe point (its in-flight requests complete); false when it was
    /// not running.
    @discardableResult
    func quiesce() -> Bool
    /// Continues a quiesced device where it stopped (its own state included).
    func resume()
}

extension VirtioPCITransport: VirtioTransportStateful {
    static var stateKind: String { "virtio-pci" }

    /// Stops the device at a safe point (see the extension's documentation); false when it
    /// was not running.
    @discardableResult
    public func quiesce() -> Bool { core.quiesce() }

    /// Continues a quiesced device where it stopped.
    public func resume() { core.resume() }

    public func saveState(id: String) -> DeviceStateRecord {
        var r = core.saveState(id: id, kind: Self.stateKind)
        r.set("isr", interrupts.pendingISR)
        return r
    }

    public func restoreState(_ r: DeviceStateRecord) throws(DeviceStateError) {
        try core.checkIdentity(r, kind: Self.stateKind)
        let isr: UInt8 = try r.integer("isr")
        try core.restoreState(r)
        interrupts.restoreISR(isr)
    }
}

extension VirtioMMIOTransport: VirtioTransportStateful {
    static var stateKind: String { "virtio-mmio" }

    /// Stops the device at a safe point; false when it was not running.
    @discardableResult
    public func quiesce() -> Bool { core.quiesce() }

    /// Continues a quiesced device where it stopped.
    public func resume() { core.resume() }

    public func saveState(id: String) -> DeviceStateRecord {
        var r = core.saveState(id: id, kind: Self.stateKind)
        r.set("interrupt-status", interrupts.status)
        return r
    }

    public func restoreState(_ r: DeviceStateRecord) throws(DeviceStateError) {
        try core.checkIdentity(r, kind: Self.stateKind)
        let status: UInt32 = try r.integer("interrupt-status")
        try core.restoreState(r)
        interrupts.restore(status)
    }
}
