import DeviceModel
import XenGlue
#if canImport(Glibc)
import Glibc
#endif

/// Device-model control on a ``SimulatedXen``, with Xen's checks and error codes
/// (`xen/common/ioreq.c`, `xen/arch/x86/hvm/dm.c`). Any call can be made to fail with
/// ``SimulatedXen/failCall(_:errno:)`` by its libxen name.
public final class SimulatedDeviceModelControl: XenDeviceModelControl, @unchecked Sendable {
    // SAFETY (@unchecked): stateless apart from the (thread-safe) simulation.
    let xen: SimulatedXen

    init(xen: SimulatedXen) { self.xen = xen }

    private func enter(_ function: String, _ domid: XenDomainID) throws(XenError) {
        if let e = xen.missingDomain(domid) { throw .callFailed(function: function, domid: domid, errno: e) }
        if let e = xen.injectedFailure(function) { throw .callFailed(function: function, domid: domid, errno: e) }
    }

    private func withServer<R>(_ function: String, _ domid: XenDomainID, _ id: IoreqServerID,
                               _ body: (inout SimulatedXen.State, SimulatedIoreqServer) -> Result<R, XenError>) throws(XenError) -> R {
        try enter(function, domid)
        return try xen.state.withLock { (s: inout SimulatedXen.State) -> Result<R, XenError> in
            guard let server = s.servers[id] else { return .failure(.callFailed(function: function, domid: domid, errno: ENOENT)) }
            return body(&s, server)
        }.get()
    }

    public func vcpuCount(domid: XenDomainID) throws(XenError) -> Int {
        try enter("xendevicemodel_nr_vcpus", domid)
        return xen.vcpuCount
    }

    public func createIoreqServer(domid: XenDomainID, buffered: BufferedIoreqHandling) throws(XenError) -> IoreqServerID {
        let function = "xendevicemodel_create_ioreq_server"
        try enter(function, domid)
        return try xen.state.withLock { (s: inout SimulatedXen.State) throws(XenError) -> IoreqServerID in
            guard let id = (0..<IoreqServerID(SimulatedXen.maxServers)).first(where: { s.servers[$0] == nil }) else {
                throw .callFailed(function: function, domid: domid, errno: ENOSPC)
            }
            var ports: [XenEventChannelPort] = []
            for _ in 0..<xen.vcpuCount { ports.append(try xen.allocatePort(in: &s)) }
            let bufferedPort = buffered == .off ? 0 : try xen.allocatePort(in: &s)
            s.servers[id] = try SimulatedIoreqServer(id: id, handling: buffered, vcpuPorts: ports, wakes: ports.map { s.ports[$0]?.wake },
                                                     bufferedPort: bufferedPort)
            return id
        }
    }

    public func destroyIoreqServer(domid: XenDomainID, server: IoreqServerID) throws(XenError) {
        try withServer("xendevicemodel_destroy_ioreq_server", domid, server) { s, srv in
            srv.enabled = false
            for port in srv.vcpuPorts + [srv.bufferedPort] {
                s.ports.removeValue(forKey: port)
                s.failingNotifies.removeValue(forKey: port)
            }
            s.servers.removeValue(forKey: server)
            return .success(())
        }
    }

    public func bufferedIoreqPort(domid: XenDomainID, server: IoreqServerID) throws(XenError) -> XenEventChannelPort {
        try withServer("xendevicemodel_get_ioreq_server_info", domid, server) { _, srv in
            // Xen leaves the port untouched without buffered handling; report that as absent.
            srv.handling == .off ? .failure(.noBufferedIoreq(server: server)) : .success(srv.bufferedPort)
        }
    }

    public func mapIORange(domid: XenDomainID, server: IoreqServerID, kind: XenIORangeKind, first: UInt64, last: UInt64) throws(XenError) {
        let function = "xendevicemodel_map_io_range_to_ioreq_server"
        try withServer(function, domid, server) { _, srv in
            let rc = srv.add(kind, first: first, last: last)
            return rc == 0 ? .success(()) : .failure(.callFailed(function: function, domid: domid, errno: rc))
        }
    }

    public func unmapIORange(domid: XenDomainID, server: IoreqServerID, kind: XenIORangeKind, first: UInt64, last: UInt64) throws(XenError) {
        let function = "xendevicemodel_unmap_io_range_from_ioreq_server"
        try withServer(function, domid, server) { _, srv in
            let rc = srv.remove(kind, first: first, last: last)
            return rc == 0 ? .success(()) : .failure(.callFailed(function: function, domid: domid, errno: rc))
        }
    }

    public func mapPCIDevice(domid: XenDomainID, server: IoreqServerID, function f: PCIAddress) throws(XenError) {
        let function = "xendevicemodel_map_pcidev_to_ioreq_server"
        try withServer(function, domid, server) { _, srv in
            let rc = srv.add(.pci, first: UInt64(f.sbdf), last: UInt64(f.sbdf))
            return rc == 0 ? .success(()) : .failure(.callFailed(function: function, domid: domid, errno: rc))
        }
    }

    public func unmapPCIDevice(domid: XenDomainID, server: IoreqServerID, function f: PCIAddress) throws(XenError) {
        let function = "xendevicemodel_unmap_pcidev_from_ioreq_server"
        try withServer(function, domid, server) { _, srv in
            let rc = srv.remove(.pci, first: UInt64(f.sbdf), last: UInt64(f.sbdf))
            return rc == 0 ? .success(()) : .failure(.callFailed(function: function, domid: domid, errno: rc))
        }
    }

    public func setIoreqServerState(domid: XenDomainID, server: IoreqServerID, enabled: Bool) throws(XenError) {
        let function = "xendevicemodel_set_ioreq_server_state"
        if !enabled {
            // Requests Xen routed to the server before the disable takes effect.
            let hook = try withServer(function, domid, server) { s, srv in .success(srv.enabled ? s.disableHook : nil) }
            hook?(server)
        }
        let hook = try withServer(function, domid, server) { s, srv -> Result<(@Sendable (IoreqServerID) -> Void)?, XenError> in
            let changed = srv.enabled != enabled
            // ioreq_server_enable: the slots get their vp_eport only now.
            if enabled, changed { srv.publishEventPorts() }
            srv.enabled = enabled
            return .success(enabled && changed ? s.enableHook : nil)
        }
        // Requests that reach the server between the enable and the device model's binds.
        hook?(server)
    }

    public func injectMSI(domid: XenDomainID, address: UInt64, data: UInt32) throws(XenError) {
        let function = "xendevicemodel_inject_msi"
        try enter(function, domid)
        let message = MSIMessage(address: address, data: data)
        // hvm_inject_msi: vector 0 is the PIRQ form; the PIRQ must be positive (else -ERANGE)
        // and is bound as an emulated MSI on first use, whatever the MSI-X mask bits say.
        if message.vector == 0, (SimulatedInterrupt.pirq(of: message) ?? 0) <= 0 {
            throw .callFailed(function: function, domid: domid, errno: ERANGE)
        }
        xen.record(.msi(message))
    }

    public func setPCIIntxLevel(domid: XenDomainID, segment: UInt16, bus: UInt8, device: UInt8, pin: UInt8, asserted: Bool) throws(XenError) {
        let function = "xendevicemodel_set_pci_intx_level"
        try enter(function, domid)
        // dm.c: segment and bus must be 0, device < 32, intx < 4.
        guard segment == 0, bus == 0, device < 32, pin < 4 else { throw .callFailed(function: function, domid: domid, errno: EINVAL) }
        xen.record(.pciINTx(segment: segment, bus: bus, device: device, pin: pin, asserted: asserted))
    }

    public func setISAIRQLevel(domid: XenDomainID, irq: UInt8, asserted: Bool) throws(XenError) {
        let function = "xendevicemodel_set_isa_irq_level"
        try enter(function, domid)
        guard irq < 16 else { throw .callFailed(function: function, domid: domid, errno: EINVAL) }
        xen.record(.isaIRQ(irq: irq, asserted: asserted))
    }

    public func modifiedMemory(domid: XenDomainID, firstFrame: XenGuestFrame, count: UInt32) throws(XenError) {
        let function = "xendevicemodel_modified_memory"
        try enter(function, domid)
        for i in 0..<UInt64(count) where xen.ram.fileOffset(ofFrame: firstFrame &+ i) == nil {
            throw .callFailed(function: function, domid: domid, errno: EINVAL)
        }
        xen.state.withLock { $0.modifiedFrames.append((firstFrame, count)) }
    }

    public func setPCILinkRoute(domid: XenDomainID, link: UInt8, irq: UInt8) throws(XenError) {
        let function = "xendevicemodel_set_pci_link_route"
        try enter(function, domid)
        // dm.c (hvm_set_pci_link_route): link < 4, irq < 16.
        guard link < 4, irq < 16 else { throw .callFailed(function: function, domid: domid, errno: EINVAL) }
        xen.state.withLock { $0.pciLinkRoutes[Int(link)] = irq }
    }

    public func shutdown(domid: XenDomainID, reason: XenShutdownReason) throws(XenError) {
        try enter("xendevicemodel_shutdown", domid)
        xen.state.withLock { $0.shutdownRequests.append(reason) }
    }
}
