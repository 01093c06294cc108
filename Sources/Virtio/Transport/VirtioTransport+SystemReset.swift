import DeviceModel

/// A machine-wide reset of the virtio transports (QMP `system_reset`): the device reset a
/// driver asks for by writing status 0 (virtio 1.2 §2.4: the device stops, its in-flight
/// requests complete first, every register returns to its initial value, pending interrupts
/// are dropped), and the transport registers that survive that reset return to their
/// power-on values too. The PCI function around a virtio-pci transport (BARs, MSI-X) is reset
/// by its bus (``DeviceModel/PCIBus/systemReset()``).
extension VirtioTransportCore {
    func systemReset() {
        reset()
        // Kept across a driver's reset (Linux writes it once at probe), not across a reboot.
        legacyPageSize = Registers.powerOnLegacyPageSize
    }
}

extension VirtioPCITransport: SystemResettable {
    /// Resets the device and the transport registers (status 0, queues disabled, no vectors).
    public func systemReset() { core.systemReset() }
}

extension VirtioMMIOTransport: SystemResettable {
    /// Resets the device and the transport registers (status 0, queues disabled, page size
    /// 4096, interrupt status clear).
    public func systemReset() { core.systemReset() }
}
