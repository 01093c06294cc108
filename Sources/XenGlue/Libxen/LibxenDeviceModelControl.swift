import CXen
import DeviceModel
#if canImport(Glibc)
import Glibc
#endif

/// ``XenDeviceModelControl`` over libxendevicemodel.
public final class LibxenDeviceModelControl: XenDeviceModelControl, @unchecked Sendable {
    // SAFETY (@unchecked): libxendevicemodel handles may be used from several threads
    // (each call is one ioctl on privcmd); `handle` is immutable until deinit.
    private let handle: OpaquePointer
    private let log: LibxenLogger

    init(log: LibxenLogger) throws(XenError) {
        guard let h = xendevicemodel_open(log.pointer, 0) else {
            throw .callFailed(function: "xendevicemodel_open", domid: nil, errno: errno)
        }
        handle = h
        self.log = log
    }

    deinit { xendevicemodel_close(handle) }

    private func check(_ rc: Int32, _ function: String, _ domid: XenDomainID) throws(XenError) {
        if rc != 0 { throw .callFailed(function: function, domid: domid, errno: errno) }
    }

    public func vcpuCount(domid: XenDomainID) throws(XenError) -> Int {
        var n: UInt32 = 0
        try check(xendevicemodel_nr_vcpus(handle, domid, &n), "xendevicemodel_nr_vcpus", domid)
        return Int(n)
    }

    public func createIoreqServer(domid: XenDomainID, buffered: BufferedIoreqHandling) throws(XenError) -> IoreqServerID {
        var id: ioservid_t = 0
        try check(xendevicemodel_create_ioreq_server(handle, domid, buffered.rawValue, &id),
                  "xendevicemodel_create_ioreq_server", domid)
        return id
    }

    public func destroyIoreqServer(domid: XenDomainID, server: IoreqServerID) throws(XenError) {
        try check(xendevicemodel_destroy_ioreq_server(handle, domid, server), "xendevicemodel_destroy_ioreq_server", domid)
    }

    public func bufferedIoreqPort(domid: XenDomainID, server: IoreqServerID) throws(XenError) -> XenEventChannelPort {
        var port: evtchn_port_t = 0
        try check(xendevicemodel_get_ioreq_server_info(handle, domid, server, nil, nil, &port),
                  "xendevicemodel_get_ioreq_server_info", domid)
        return port
    }

    /// The range-type argument of the range calls for `kind`. libxendevicemodel names it
    /// `is_mmio`, but it is `xen_dm_op_ioreq_server_range.type`: `XEN_DMOP_IO_RANGE_PORT`,
    /// `_MEMORY` or `_PCI` (a PCI range is SBDFs).
    static func ioRangeType(_ kind: XenIORangeKind) -> Int32 { Int32(bitPattern: kind.rawValue) }

    public func mapIORange(domid: XenDomainID, server: IoreqServerID, kind: XenIORangeKind, first: UInt64, last: UInt64) throws(XenError) {
        try check(xendevicemodel_map_io_range_to_ioreq_server(handle, domid, server, Self.ioRangeType(kind), first, last),
                  "xendevicemodel_map_io_range_to_ioreq_server", domid)
    }

    public func unmapIORange(domid: XenDomainID, server: IoreqServerID, kind: XenIORangeKind, first: UInt64, last: UInt64) throws(XenError) {
        try check(xendevicemodel_unmap_io_range_from_ioreq_server(handle, domid, server, Self.ioRangeType(kind), first, last),
                  "xendevicemodel_unmap_io_range_from_ioreq_server", domid)
    }

    public func mapPCIDevice(domid: XenDomainID, server: IoreqServerID, function f: PCIAddress) throws(XenError) {
        try check(xendevicemodel_map_pcidev_to_ioreq_server(handle, domid, server, f.segment, f.bus, f.device, f.function),
                  "xendevicemodel_map_pcidev_to_ioreq_server", domid)
    }

    public func unmapPCIDevice(domid: XenDomainID, server: IoreqServerID, function f: PCIAddress) throws(XenError) {
        try check(xendevicemodel_unmap_pcidev_from_ioreq_server(handle, domid, server, f.segment, f.bus, f.device, f.function),
                  "xendevicemodel_unmap_pcidev_from_ioreq_server", domid)
    }

    public func setIoreqServerState(domid: XenDomainID, server: IoreqServerID, enabled: Bool) throws(XenError) {
        try check(xendevicemodel_set_ioreq_server_state(handle, domid, server, enabled ? 1 : 0),
                  "xendevicemodel_set_ioreq_server_state", domid)
    }

    public func injectMSI(domid: XenDomainID, address: UInt64, data: UInt32) throws(XenError) {
        try check(xendevicemodel_inject_msi(handle, domid, address, data), "xendevicemodel_inject_msi", domid)
    }

    public func setPCIIntxLevel(domid: XenDomainID, segment: UInt16, bus: UInt8, device: UInt8, pin: UInt8, asserted: Bool) throws(XenError) {
        try check(xendevicemodel_set_pci_intx_level(handle, domid, segment, bus, device, pin, asserted ? 1 : 0),
                  "xendevicemodel_set_pci_intx_level", domid)
    }

    public func setISAIRQLevel(domid: XenDomainID, irq: UInt8, asserted: Bool) throws(XenError) {
        try check(xendevicemodel_set_isa_irq_level(handle, domid, irq, asserted ? 1 : 0),
                  "xendevicemodel_set_isa_irq_level", domid)
    }

    public func modifiedMemory(domid: XenDomainID, firstFrame: XenGuestFrame, count: UInt32) throws(XenError) {
        try check(xendevicemodel_modified_memory(handle, domid, firstFrame, count), "xendevicemodel_modified_memory", domid)
    }

    public func setPCILinkRoute(domid: XenDomainID, link: UInt8, irq: UInt8) throws(XenError) {
        try check(xendevicemodel_set_pci_link_route(handle, domid, link, irq), "xendevicemodel_set_pci_link_route", domid)
    }

    public func shutdown(domid: XenDomainID, reason: XenShutdownReason) throws(XenError) {
        try check(xendevicemodel_shutdown(handle, domid, reason.rawValue), "xendevicemodel_shutdown", domid)
    }
}
