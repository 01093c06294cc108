import DeviceModel
import X86Machine

/// The device state of a served machine — what a Xen device model saves for `xl save` and
/// loads for `xl restore` (`xen-save-devices-state`, `-incoming`): the HVM platform devices
/// it provides, the PCI functions, and the virtio transports and devices. The guest's RAM,
/// vCPUs and Xen's own emulated devices are saved by Xen.
extension IOServerMachine {
    static let platformIDs = (uart: "isa/com1", keyboard: "isa/i8042", power: "isa/acpi-pm", gpe: "isa/acpi-gpe",
                              hostBridge: "pci/0000:00:00.0", isaBridge: "pci/0000:00:01.0")

    /// Saves every device's state; the virtio devices stop at a safe point and stay stopped
    /// until ``resumeDevices()``.
    public func saveDeviceState() throws(MachineError) -> DeviceStateArchive {
        try attacher.checkStateCanBeSaved()
        var records: [DeviceStateRecord] = []
        if let p = platform {
            if let uart = p.uart { records.append(uart.saveState(id: Self.platformIDs.uart)) }
            records.append(p.keyboardController.saveState(id: Self.platformIDs.keyboard))
            records.append(p.powerManagement.saveState(id: Self.platformIDs.power))
            records.append(p.generalPurposeEvents.saveState(id: Self.platformIDs.gpe))
            for (id, device) in [(Self.platformIDs.hostBridge, UInt8(0)), (Self.platformIDs.isaBridge, PIIX3ISABridge.device)] {
                if let f = bus.saveFunctionState(device: device, function: 0, id: id) { records.append(f) }
            }
        }
        records += attacher.saveState(bus: bus)
        return DeviceStateArchive(records: records)
    }

    /// Continues the devices ``saveDeviceState()`` stopped (after a checkpoint, or a save
    /// that failed).
    public func resumeDevices() { attacher.resumeAfterSave() }

    /// Loads `archive` into this freshly built machine (same devices, same disks), before the
    /// domain's vCPUs run again.
    public func restoreDeviceState(_ archive: DeviceStateArchive) throws(MachineError) {
        do throws(DeviceStateError) {
            var expected: Set<String> = []
            if let p = platform {
                if let uart = p.uart {
                    expected.insert(Self.platformIDs.uart)
                    try uart.restoreState(archive.record(Self.platformIDs.uart))
                }
                expected.formUnion([Self.platformIDs.keyboard, Self.platformIDs.power, Self.platformIDs.gpe,
                                    Self.platformIDs.hostBridge, Self.platformIDs.isaBridge])
                try p.keyboardController.restoreState(archive.record(Self.platformIDs.keyboard))
                try p.powerManagement.restoreState(archive.record(Self.platformIDs.power))
                try p.generalPurposeEvents.restoreState(archive.record(Self.platformIDs.gpe))
                try bus.restoreFunctionState(archive.record(Self.platformIDs.hostBridge), device: 0, function: 0)
                try bus.restoreFunctionState(archive.record(Self.platformIDs.isaBridge), device: PIIX3ISABridge.device, function: 0)
            }
            expected.formUnion(try attacher.restoreState(archive, bus: bus))
            let extra = archive.records.map(\.id).filter { !expected.contains($0) }
            guard extra.isEmpty else { throw DeviceStateError.unexpectedRecords(ids: extra) }
        } catch {
            throw .deviceState(error)
        }
    }
}
