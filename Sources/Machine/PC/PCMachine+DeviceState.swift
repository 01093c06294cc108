import DeviceModel
import Virtio
import X86Machine

/// Saving and restoring the state of every device of a ``PCMachine``: the platform devices,
/// the host bridge's and every virtio function's PCI configuration (BARs, MSI-X), each virtio
/// transport and each device, as one ``DeviceStateArchive``.
///
/// Record ids name where a device sits: `isa/com1`, `isa/cmos`, `isa/i8042`, `isa/acpi-pm`,
/// `isa/fw_cfg` (firmware boots),
/// `pci/0000:00:00.0`, and for a virtio device at `pci/0000:00:01.0` (or `mmio/0xd0000000`)
/// the function, `…/transport` and `…/device`.
///
/// The processors and the guest's RAM are the accelerator's part of a snapshot; this is the
/// device model's.
extension PCMachine {
    /// Where a virtio attachment's records live.
    static func stateID(_ a: VirtioDeviceAttacher.Attachment) -> String {
        if let address = a.pciAddress { return "pci/\(address)" }
        return "mmio/0x\(String(a.mmioSlot?.base ?? 0, radix: 16))"
    }

    static let platformIDs = (uart: "isa/com1", cmos: "isa/cmos", keyboard: "isa/i8042", power: "isa/acpi-pm", hostBridge: "pci/0000:00:00.0",
                              firmwareConfig: "isa/fw_cfg")

    /// Saves every device's state. Call with the vCPUs paused; every virtio device is stopped
    /// at a safe point (its in-flight requests complete into the used rings) and stays
    /// stopped until ``resumeDevices()`` — or for good, when the process ends after the save.
    ///
    /// - Throws: ``MachineError/snapshotUnsupported(device:reason:)`` before anything is
    ///   stopped, when a device's state cannot be saved (virtio-console, -gpu and -input keep
    ///   state that is not captured yet).
    public func saveDeviceState() throws(MachineError) -> DeviceStateArchive {
        var stateful: [(VirtioDeviceAttacher.Attachment, any DeviceStateful)] = []
        for a in devices.attachments {
            guard let s = a.device as? any DeviceStateful else {
                throw .snapshotUnsupported(device: a.name, reason: "its device state cannot be saved yet")
            }
            stateful.append((a, s))
        }
        var records = [
            platform.uart.saveState(id: Self.platformIDs.uart), platform.cmos.saveState(id: Self.platformIDs.cmos),
            platform.keyboardController.saveState(id: Self.platformIDs.keyboard),
            platform.powerManagement.saveState(id: Self.platformIDs.power),
        ]
        if let bridge = pciBus.saveFunctionState(device: 0, function: 0, id: Self.platformIDs.hostBridge) { records.append(bridge) }
        if let firmwareConfig { records.append(firmwareConfig.saveState(id: Self.platformIDs.firmwareConfig)) }
        for (a, device) in stateful {
            let id = Self.stateID(a)
            // The device's own record first: stopping it resets what lives in its activation.
            let deviceRecord = device.saveState(id: id + "/device")
            a.transportState.quiesce()
            if let address = a.pciAddress, let f = pciBus.saveFunctionState(device: address.device, function: address.function, id: id) {
                records.append(f)
            }
            records.append(a.transportState.saveState(id: id + "/transport"))
            records.append(deviceRecord)
        }
        return DeviceStateArchive(records: records)
    }

    /// Continues the virtio devices stopped by ``saveDeviceState()``.
    public func resumeDevices() {
        for a in devices.attachments { a.transportState.resume() }
    }

    /// Loads `archive` into this freshly built machine (same devices, same disks and taps),
    /// before its vCPUs start: platform devices, PCI functions (BARs placed), transports
    /// (running devices restarted at their saved queue positions), devices.
    ///
    /// - Throws: ``MachineError/deviceState(_:)`` naming the record and field that is
    ///   missing, damaged or does not fit this machine; records for devices the machine lacks
    ///   are refused too.
    public func restoreDeviceState(_ archive: DeviceStateArchive) throws(MachineError) {
        do throws(DeviceStateError) {
            var expected: Set<String> = [Self.platformIDs.uart, Self.platformIDs.cmos, Self.platformIDs.keyboard, Self.platformIDs.power]
            try platform.uart.restoreState(archive.record(Self.platformIDs.uart))
            try platform.cmos.restoreState(archive.record(Self.platformIDs.cmos))
            try platform.keyboardController.restoreState(archive.record(Self.platformIDs.keyboard))
            try platform.powerManagement.restoreState(archive.record(Self.platformIDs.power))
            if let firmwareConfig {
                expected.insert(Self.platformIDs.firmwareConfig)
                try firmwareConfig.restoreState(archive.record(Self.platformIDs.firmwareConfig))
            }
            if pciBus.function(device: 0, function: 0) != nil {
                expected.insert(Self.platformIDs.hostBridge)
                try pciBus.restoreFunctionState(archive.record(Self.platformIDs.hostBridge), device: 0, function: 0)
            }
            for a in devices.attachments {
                let id = Self.stateID(a)
                guard let device = a.device as? any DeviceStateful else {
                    throw DeviceStateError.missingRecord(id: "\(id)/device (\(a.name) cannot be restored)")
                }
                if let address = a.pciAddress {
                    expected.insert(id)
                    try pciBus.restoreFunctionState(archive.record(id), device: address.device, function: address.function)
                }
                expected.formUnion([id + "/transport", id + "/device"])
                try a.transportState.restoreState(archive.record(id + "/transport"))
                try device.restoreState(archive.record(id + "/device"))
            }
            let extra = archive.records.map(\.id).filter { !expected.contains($0) }
            guard extra.isEmpty else { throw DeviceStateError.unexpectedRecords(ids: extra) }
        } catch {
            throw .deviceState(error)
        }
    }
}
