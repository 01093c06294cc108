import DeviceModel

/// How an ioreq server receives buffered (posted) writes (`HVM_IOREQSRV_BUFIOREQ_*`).
public enum BufferedIoreqHandling: Int32, Sendable {
    /// No buffered page or event channel; every access is synchronous.
    case off = 0
    /// Buffered page; Xen signals the buffered port only occasionally (legacy).
    case legacy = 1
    /// Buffered page; Xen signals on every write and rebases the ring pointers atomically.
    case atomic = 2
}

/// Which kind of I/O range an ioreq server claims (`XEN_DMOP_IO_RANGE_*`).
public enum XenIORangeKind: UInt32, Sendable, Hashable {
    case port = 0
    case memory = 1
    case pci = 2
}

/// Why a device model asks Xen to shut its domain down (`SHUTDOWN_*` in `xen/sched.h`).
public enum XenShutdownReason: UInt32, Sendable, Hashable, CustomStringConvertible {
    /// The guest powered off (ACPI S5): the toolstack destroys the domain.
    case powerOff = 0
    /// The guest reset the machine (i8042 pulse, 0xCF9, triple fault): the toolstack rebuilds it.
    case reboot = 1
    /// The guest crashed (pvpanic).
    case crash = 3

    public var description: String {
        switch self {
        case .powerOff: "poweroff"
        case .reboot: "reboot"
        case .crash: "crash"
        }
    }
}

/// Device-model control operations on a domain (libxendevicemodel, `HYPERVISOR_dm_op`).
///
/// All calls name the target domain; the implementation is bound to one caller (dom0's
/// handle, or a simulated hypervisor).
public protocol XenDeviceModelControl: AnyObject, Sendable {
    /// Number of vCPUs of `domid` (`xendevicemodel_nr_vcpus`).
    func vcpuCount(domid: XenDomainID) throws(XenError) -> Int

    /// Creates an ioreq server (`xendevicemodel_create_ioreq_server`); it starts disabled.
    func createIoreqServer(domid: XenDomainID, buffered: BufferedIoreqHandling) throws(XenError) -> IoreqServerID

    /// Destroys a server (`xendevicemodel_destroy_ioreq_server`).
    func destroyIoreqServer(domid: XenDomainID, server: IoreqServerID) throws(XenError)

    /// The buffered ioreq event channel, as the remote port to bind
    /// (`xendevicemodel_get_ioreq_server_info` with no frame pointers, so Xen does not
    /// steal guest frames for the legacy page mapping; the pages come from
    /// ``XenForeignMemory/mapIoreqServerPages(domid:server:)``).
    func bufferedIoreqPort(domid: XenDomainID, server: IoreqServerID) throws(XenError) -> XenEventChannelPort

    /// Claims `[first, last]` for the server (`xendevicemodel_map_io_range_to_ioreq_server`).
    func mapIORange(domid: XenDomainID, server: IoreqServerID, kind: XenIORangeKind, first: UInt64, last: UInt64) throws(XenError)

    /// Releases a claimed range (`xendevicemodel_unmap_io_range_from_ioreq_server`).
    func unmapIORange(domid: XenDomainID, server: IoreqServerID, kind: XenIORangeKind, first: UInt64, last: UInt64) throws(XenError)

    /// Routes configuration cycles of `function` to the server (`xendevicemodel_map_pcidev_to_ioreq_server`).
    func mapPCIDevice(domid: XenDomainID, server: IoreqServerID, function: PCIAddress) throws(XenError)

    /// Stops routing `function` (`xendevicemodel_unmap_pcidev_from_ioreq_server`).
    func unmapPCIDevice(domid: XenDomainID, server: IoreqServerID, function: PCIAddress) throws(XenError)

    /// Enables or disables the server (`xendevicemodel_set_ioreq_server_state`).
    func setIoreqServerState(domid: XenDomainID, server: IoreqServerID, enabled: Bool) throws(XenError)

    /// Injects an MSI (`xendevicemodel_inject_msi`).
    func injectMSI(domid: XenDomainID, address: UInt64, data: UInt32) throws(XenError)

    /// Sets the level of a PCI INTx pin (`xendevicemodel_set_pci_intx_level`; `pin` 0–3 = INTA–INTD).
    func setPCIIntxLevel(domid: XenDomainID, segment: UInt16, bus: UInt8, device: UInt8, pin: UInt8, asserted: Bool) throws(XenError)

    /// Sets the level of an ISA IRQ 0–15 (`xendevicemodel_set_isa_irq_level`).
    func setISAIRQLevel(domid: XenDomainID, irq: UInt8, asserted: Bool) throws(XenError)

    /// Routes PCI interrupt link `link` (0–3, PIRQ A–D) to ISA IRQ `irq` (0 disables it;
    /// `xendevicemodel_set_pci_link_route`): what a PIIX3's PIRQ route registers mean to Xen's
    /// virtual PIC.
    func setPCILinkRoute(domid: XenDomainID, link: UInt8, irq: UInt8) throws(XenError)

    /// Asks Xen to shut the domain down for `reason` (`xendevicemodel_shutdown`), as the
    /// guest's platform devices request it.
    func shutdown(domid: XenDomainID, reason: XenShutdownReason) throws(XenError)

    /// Tells Xen the device model wrote guest frames `[firstFrame, firstFrame + count)`
    /// (`xendevicemodel_modified_memory`), for log-dirty tracking during migration.
    func modifiedMemory(domid: XenDomainID, firstFrame: XenGuestFrame, count: UInt32) throws(XenError)
}
