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
    static let platformIDs = (uart: "isa/com1", cmos: "isa/cmos", keyboard: "isa/i8042", power: "isa/acpi-pm", hostBridge: "pci/0000:00:00.0",
                              firmwareConfig: "isa/fw_cfg")

    /// Saves every device's state. Call with the vCPUs paused; every virtio device is stopped
    /// at a safe point (its in-flight requests complete into the used rings) and stays
    /// stopped until ``resumeDevices()`` — or for good, when the process ends after the save.
    ///
    /// - Throws: ``MachineError/snapshotUnsupported(device:reason:)`` before anything is
    ///   stopped, when a device's state cannot be saved (a device an embedder attached that is
    ///   not ``DeviceModel/DeviceStateful``).
    public func saveDeviceState() throws(MachineError) -> DeviceStateArchive {
        try devices.checkStateCanBeSaved()
        var records = [
            platform.uart.saveState(id: Self.platformIDs.uart), platform.cmos.saveState(id: Self.platformIDs.cmos),
            platform.keyboardController.saveState(id: Self.platformIDs.keyboard),
            platform.powerManagement.saveState(id: Self.platformIDs.power),
        ]
        if let bridge = pciBus.saveFunctionState(device: 0, function: 0, id: Self.platformIDs.hostBridge) { records.append(bridge) }
        if let firmwareConfig { records.append(firmwareConfig.saveState(id: Self.platformIDs.firmwareConfig)) }
        records += devices.saveState(bus: pciBus)
        return DeviceStateArchive(records: records)
    }

    /// Continues the virtio devices stopped by ``saveDeviceState()``.
    public func resumeDevices() { devices.resumeAfterSave() }

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
            expected.formUnion(try devices.restoreState(archive, bus: pciBus))
            let extra = archive.records.map(\.id).filter { !expected.contains($0) }
            guard extra.isEmpty else { throw DeviceStateError.unexpectedRecords(ids: extra) }
        } catch {
            throw .deviceState(error)
        }
    }
}
