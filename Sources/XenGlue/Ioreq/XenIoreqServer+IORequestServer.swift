import DeviceModel

/// A Xen ioreq server is a machine backend: devices reach the domain's RAM through foreign
/// mappings, raise MSIs through `xendevicemodel_inject_msi` and wired lines through
/// `set_pci_intx_level`/`set_isa_irq_level`, and register queue notifies in the dispatcher's
/// software ioeventfd table (Xen has no ioeventfd).
extension XenIoreqServer: IORequestServer {
    public var ioEvents: SoftwareIOEvents { dispatcher.softwareIOEvents }
    public var msi: XenMSIController { msiController }
    public var pciINTxRouting: PCIINTxRouting { XenInterruptLines.pciINTxRouting }

    public func claimPCIFunction(_ address: PCIAddress) throws {
        // A function's whole 4 KiB config space (extended config included).
        guard let range = AddressRange(base: address.configAddress(register: 0), length: 4096) else { return }
        try claim(.pciConfig, range)
    }

    public func followRegistrations() {
        mirrorRegistrations(of: [.port, .memory])
    }
}
