import DeviceModel
import Virtio

/// The saved state of attached virtio devices, for any machine that holds them (a PC, a
/// machine served through an ioreq server): per device, its PCI function (virtio-pci), its
/// transport and its own record, under an id that says where it sits — `pci/0000:00:04.0`
/// (`…/transport`, `…/device`) or `mmio/0xd0000000/…`.
extension VirtioDeviceAttacher {
    /// Where an attachment's records live.
    static func stateID(_ a: Attachment) -> String {
        if let address = a.pciAddress { return "pci/\(address)" }
        return "mmio/0x\(String(a.mmioSlot?.base ?? 0, radix: 16))"
    }

    /// Refuses, before anything is stopped, when a device's state cannot be saved: every device
    /// of the catalogue saves its own, but an embedder may attach a ``Virtio/VirtioDevice``
    /// that is not ``DeviceModel/DeviceStateful``.
    public func checkStateCanBeSaved() throws(MachineError) {
        for a in attachments where !(a.device is any DeviceStateful) {
            throw .snapshotUnsupported(device: a.name, reason: "its device state cannot be saved yet")
        }
    }

    /// Saves every device: its own record first (stopping it resets what lives in its
    /// activation), then stops it at a safe point and saves its function and transport. The
    /// devices stay stopped until ``resumeAfterSave()``. Call ``checkStateCanBeSaved()`` first;
    /// a device that cannot be saved is skipped here.
    public func saveState(bus: PCIBus?) -> [DeviceStateRecord] {
        var records: [DeviceStateRecord] = []
        for a in attachments {
            guard let device = a.device as? any DeviceStateful else { continue }
            let id = Self.stateID(a)
            let deviceRecord = device.saveState(id: id + "/device")
            a.transportState.quiesce()
            if let address = a.pciAddress, let f = bus?.saveFunctionState(device: address.device, function: address.function, id: id) {
                records.append(f)
            }
            records.append(a.transportState.saveState(id: id + "/transport"))
            records.append(deviceRecord)
        }
        return records
    }

    /// Continues the devices ``saveState(bus:)`` stopped.
    public func resumeAfterSave() {
        for a in attachments { a.transportState.resume() }
    }

    /// Loads every device's function, transport and own record from `archive`; returns the
    /// ids it consumed (the caller refuses records nobody took).
    public func restoreState(_ archive: DeviceStateArchive, bus: PCIBus?) throws(DeviceStateError) -> Set<String> {
        var consumed: Set<String> = []
        for a in attachments {
            let id = Self.stateID(a)
            guard let device = a.device as? any DeviceStateful else {
                throw .missingRecord(id: "\(id)/device (\(a.name) cannot be restored)")
            }
            if let address = a.pciAddress, let bus {
                consumed.insert(id)
                try bus.restoreFunctionState(archive.record(id), device: address.device, function: address.function)
            }
            consumed.formUnion([id + "/transport", id + "/device"])
            try a.transportState.restoreState(archive.record(id + "/transport"))
            try device.restoreState(archive.record(id + "/device"))
        }
        return consumed
    }
}
