import CXen
import DeviceModel
import Synchronization
import XenGlue
#if canImport(Glibc)
import Glibc
#endif

/// A simulated Xen hypervisor with one HVM domain, for driving ``XenIoreqServer``
/// without Xen.
///
/// It implements the hypervisor half of the ioreq protocol as `xen/common/ioreq.c` does:
/// ioreq server pages laid out by the real C types (`shared_iopage_t`,
/// `buffered_iopage_t`), event channels built on eventfds (one per Xen-side port for the
/// waiting vCPU, one per device-model handle), guest RAM in a memfd that the device
/// model maps frame by frame, and request issue exactly as Xen does it: fill the slot,
/// write barrier, `STATE_IOREQ_READY`, notify; wait for `STATE_IORESP_READY`; read
/// `data`; back to `STATE_IOREQ_NONE`. Buffered writes go through the ring with Xen's
/// split of 8-byte data over two slots and its atomic pointer rebasing.
///
/// ``openHypervisor()`` gives the device model its ``XenHypervisor``;
/// ``emulate(vcpu:_:)`` is a guest access arriving at Xen (server selection, CF8/CFC
/// decoding, the null handler); ``send(vcpu:_:server:)`` and ``sendBuffered(_:server:)``
/// put raw requests in the pages. Faults can be injected per call, per frame and per
/// notify.
public final class SimulatedXen: @unchecked Sendable {
    // SAFETY (@unchecked): mutable state lives in `state` (a Mutex); `gates` serialise
    // each vCPU's use of its slot; everything else is immutable.

    public let domid: XenDomainID
    public let vcpuCount: Int
    public let ram: SharedGuestRAM
    /// How long a vCPU waits for a response before ``XenSimulationError/noResponse(vcpu:state:)``
    /// (Xen would wait forever).
    public let responseTimeout: Duration

    /// Most recent interrupts kept by ``interrupts``.
    public static let interruptHistory = 4096
    /// Xen's `MAX_NR_IOREQ_SERVERS`.
    static let maxServers = 8

    struct State {
        var servers: [IoreqServerID: SimulatedIoreqServer] = [:]
        var ports: [XenEventChannelPort: XenSidePort] = [:]
        var nextPort: XenEventChannelPort = 1
        /// The domain's latched CF8 (`d->arch.hvm.pci_cf8`).
        var cf8: UInt32 = 0
        var failingNotifies: [XenEventChannelPort: Int32] = [:]
        var failingFrames: [XenGuestFrame: Int32] = [:]
        var failingCalls: [String: Int32] = [:]
        var interrupts: [SimulatedInterrupt] = []
        var interruptCount: UInt64 = 0
        var msiCount: UInt64 = 0
        var interruptSink: (@Sendable (SimulatedInterrupt) -> Void)?
        var store: [String: String] = [:]
        var modifiedFrames: [(first: XenGuestFrame, count: UInt32)] = []
        /// ISA IRQ of each PCI link (PIRQ A–D), 0 while unrouted.
        var pciLinkRoutes: [UInt8] = [0, 0, 0, 0]
        var shutdownRequests: [XenShutdownReason] = []
        var unclaimedAccesses: UInt64 = 0
        var bufferedMMIO: [AddressRange] = []
        /// Run right after a server is enabled (``whenServerEnabled(_:)``).
        var enableHook: (@Sendable (IoreqServerID) -> Void)?
        /// Run when a server is being disabled, while it still is enabled (``beforeServerDisabled(_:)``).
        var disableHook: (@Sendable (IoreqServerID) -> Void)?
        /// Set by ``destroyDomain()``: every call about the domain fails with `ESRCH`.
        var destroyed = false
        /// Watches registered through any simulated store handle.
        var watches: [StoreWatch] = []

        /// Enabled servers, newest first (Xen's `FOR_EACH_IOREQ_SERVER` order).
        var enabledServers: [SimulatedIoreqServer] {
            servers.keys.sorted(by: >).compactMap { servers[$0] }.filter(\.enabled)
        }
    }

    /// A Xen-side event-channel port: the vCPU (or nobody) waits on `wake`; a device-model
    /// handle may be bound to it.
    struct XenSidePort {
        let wake: EventNotifier
        var binding: PortBinding?
    }

    final class PortBinding: @unchecked Sendable {
        // SAFETY (@unchecked): immutable; the weak reference is thread-safe.
        weak var channels: SimulatedEventChannels?
        let localPort: XenEventChannelPort
        init(channels: SimulatedEventChannels, localPort: XenEventChannelPort) {
            self.channels = channels
            self.localPort = localPort
        }
    }

    final class VCPUGate: Sendable {
        let lock = Mutex<Void>(())
    }

    let state = Mutex(State())
    private let gates: [VCPUGate]

    /// - Parameters:
    ///   - vcpuCount: 1 … the slots of one shared ioreq page.
    ///   - responseTimeout: how long ``send(vcpu:_:server:)`` waits for the device model.
    public init(domid: XenDomainID = 1, vcpuCount: Int = 1, ram: SharedGuestRAM,
                responseTimeout: Duration = .seconds(10)) throws(XenError) {
        let slots = Int(swiftdm_ioreq_slots_per_page())
        guard vcpuCount >= 1, vcpuCount <= slots else { throw .tooManyVCPUs(count: vcpuCount, slots: slots) }
        self.domid = domid
        self.vcpuCount = vcpuCount
        self.ram = ram
        self.responseTimeout = responseTimeout
        self.gates = (0..<vcpuCount).map { _ in VCPUGate() }
        // The toolstack's directory of the domain (libxl creates it with the domain).
        state.withLock { $0.store[homePath] = "" }
    }

    /// The domain's xenstore home, `/local/domain/<domid>`: present while the domain exists.
    public var homePath: String { "/local/domain/\(domid)" }

    /// `ESRCH` when `domid` is not this domain or the domain was destroyed, else `nil`: what
    /// every hypercall about a domain checks first (`rcu_lock_remote_domain_by_id`).
    func missingDomain(_ domid: XenDomainID) -> Int32? {
        guard domid == self.domid else { return ESRCH }
        return state.withLock { $0.destroyed } ? ESRCH : nil
    }

    /// The device model's view: control, a fresh event-channel handle, foreign memory
    /// and the store, all backed by this simulation.
    public func openHypervisor() throws(XenError) -> XenHypervisor {
        XenHypervisor(
            control: SimulatedDeviceModelControl(xen: self),
            eventChannels: try SimulatedEventChannels(xen: self),
            foreignMemory: SimulatedForeignMemory(xen: self),
            store: try SimulatedXenStore(xen: self))
    }

    // MARK: Fault injection

    /// Makes the device model's notifies towards `vcpu`'s port fail with `errno`
    /// (`nil` restores them), for every server.
    public func failNotifies(toVCPU vcpu: Int, errno: Int32?) {
        state.withLock { s in
            for server in s.servers.values where vcpu < server.vcpuPorts.count {
                s.failingNotifies[server.vcpuPorts[vcpu]] = errno
            }
        }
    }

    /// Makes foreign mappings of frame `gfn` fail with `errno` (`nil` restores it).
    public func failFrame(_ gfn: XenGuestFrame, errno: Int32?) {
        state.withLock { $0.failingFrames[gfn] = errno }
    }

    /// Makes the named libxen call (e.g. `"xendevicemodel_inject_msi"`) fail with `errno`
    /// (`nil` restores it).
    public func failCall(_ function: String, errno: Int32?) {
        state.withLock { $0.failingCalls[function] = errno }
    }

    func injectedFailure(_ function: String) -> Int32? {
        state.withLock { $0.failingCalls[function] }
    }

    // MARK: Observation

    /// The most recent interrupts the device model raised, oldest first.
    public var interrupts: [SimulatedInterrupt] { state.withLock { $0.interrupts } }

    /// Total interrupts raised so far.
    public var interruptCount: UInt64 { state.withLock { $0.interruptCount } }

    /// Of ``interruptCount``, the MSIs (`xendevicemodel_inject_msi`).
    public var msiCount: UInt64 { state.withLock { $0.msiCount } }

    /// Called (on the device model's thread) for every interrupt raised, e.g. to deliver
    /// it to a real vCPU.
    public func setInterruptSink(_ sink: (@Sendable (SimulatedInterrupt) -> Void)?) {
        state.withLock { $0.interruptSink = sink }
    }

    func record(_ interrupt: SimulatedInterrupt) {
        let sink: (@Sendable (SimulatedInterrupt) -> Void)? = state.withLock { s in
            s.interrupts.append(interrupt)
            if s.interrupts.count > Self.interruptHistory { s.interrupts.removeFirst(s.interrupts.count - Self.interruptHistory) }
            s.interruptCount += 1
            if case .msi = interrupt { s.msiCount += 1 }
            return s.interruptSink
        }
        sink?(interrupt)
    }

    /// The simulated store, by absolute path.
    public var store: [String: String] { state.withLock { $0.store } }

    /// Ranges reported with `xendevicemodel_modified_memory`.
    public var modifiedFrames: [(first: XenGuestFrame, count: UInt32)] { state.withLock { $0.modifiedFrames } }

    /// The ISA IRQ each PCI link (PIRQ A–D) is routed to by `set_pci_link_route`; 0 while unrouted.
    public var pciLinkRoutes: [UInt8] { state.withLock { $0.pciLinkRoutes } }

    /// Shutdowns the device model asked for (`xendevicemodel_shutdown`), in order.
    public var shutdownRequests: [XenShutdownReason] { state.withLock { $0.shutdownRequests } }

    /// Guest accesses no enabled server claimed (answered by the null handler).
    public var unclaimedAccesses: UInt64 { state.withLock { $0.unclaimedAccesses } }

    /// The ioreq servers that exist now.
    public var serverIDs: [IoreqServerID] { state.withLock { $0.servers.keys.sorted() } }

    /// Ranges a server claimed, for `kind`.
    public func claimedRanges(server: IoreqServerID, kind: XenIORangeKind) -> [ClosedRange<UInt64>] {
        state.withLock { $0.servers[server]?.ranges[kind]?.sorted { $0.lowerBound < $1.lowerBound } ?? [] }
    }

    /// Single MMIO writes in `range` go through the buffered ring, as Xen does for the
    /// standard VGA window (`stdvga`); only ranges below 1 MiB can be buffered.
    public func bufferWrites(in range: AddressRange) {
        state.withLock { $0.bufferedMMIO.append(range) }
    }

    // MARK: Event channels (Xen side)

    /// Allocates an unbound Xen-side port (`alloc_unbound_xen_event_channel`).
    func allocatePort(in s: inout State) throws(XenError) -> XenEventChannelPort {
        let port = s.nextPort
        s.nextPort += 1
        do {
            s.ports[port] = XenSidePort(wake: try EventNotifier(), binding: nil)
        } catch {
            throw .callFailed(function: "eventfd", domid: domid, errno: error.errnoValue)
        }
        return port
    }

    /// `notify_via_xen_event_channel`: raise the bound device-model port, if any.
    func notifyDeviceModel(_ port: XenEventChannelPort) {
        let binding = state.withLock { $0.ports[port]?.binding }
        guard let binding, let channels = binding.channels else { return }
        channels.deliver(binding.localPort)
    }

    /// The device model notified `port`: wake whoever waits on it.
    func notifyXen(_ port: XenEventChannelPort) throws(XenError) {
        let (wake, failure): (EventNotifier?, Int32?) = state.withLock { s in
            (s.ports[port]?.wake, s.failingNotifies[port])
        }
        if let failure { throw .callFailed(function: "xenevtchn_notify", domid: nil, errno: failure) }
        guard let wake else { throw .callFailed(function: "xenevtchn_notify", domid: nil, errno: EINVAL) }
        do {
            try wake.signal()
        } catch {
            throw .callFailed(function: "xenevtchn_notify", domid: nil, errno: error.errnoValue)
        }
    }

    // MARK: Guest accesses

    /// A guest access trapping into Xen: picks the server (`hvm_select_ioreq_server`,
    /// including the CF8/CFC decoding into `IOREQ_TYPE_PCI_CONFIG`), buffers it if it is
    /// a single write in a ``bufferWrites(in:)`` range, otherwise sends it through the
    /// vCPU's slot and fills in the read result. Accesses no server claims get Xen's
    /// null handler: reads return all ones, writes are dropped.
    ///
    /// `.hostBuffer` data (KVM's string I/O area) is not guest RAM, so — as Xen does for
    /// non-RAM buffers — each element is sent as its own request.
    public func emulate(vcpu: Int, _ request: inout IORequest) throws(XenSimulationError) {
        guard request.isWellFormed else { throw .invalidRequest("\(request)") }
        if case .hostBuffer(let base) = request.data {
            try emulateElementwise(vcpu: vcpu, &request, buffer: base)
            return
        }
        var p = SimulatedIoreq(
            type: request.space == .port ? SimulatedIoreq.pio : request.space == .memory ? SimulatedIoreq.copy : SimulatedIoreq.pciConfig,
            address: request.address, size: UInt32(request.size), count: request.count,
            isRead: request.direction == .read, decrementing: request.decrementing)
        switch request.data {
        case .value(let v): p.data = v
        case .guestBuffer(let gpa):
            p.data = gpa
            p.dataIsPointer = true
        case .hostBuffer: break
        }
        // hvm_access_cf8: latch the config address, then fall through to the servers.
        if p.type == SimulatedIoreq.pio, !p.isRead, p.address == 0xcf8, p.size == 4 {
            state.withLock { $0.cf8 = UInt32(truncatingIfNeeded: p.data) }
        }
        let (selected, buffer): (SimulatedIoreqServer?, Bool) = state.withLock { s in
            let server = Self.select(&p, in: s)
            let buffer = p.type == SimulatedIoreq.copy && !p.isRead && !p.dataIsPointer && p.count == 1
                && s.bufferedMMIO.contains { $0.contains(p.address, size: UInt64(p.size)) }
            if server == nil { s.unclaimedAccesses += 1 }
            return (server, buffer)
        }
        guard let server = selected else {
            try nullHandler(p)
            if p.isRead, !p.dataIsPointer { request.data = .value(IORequest.mask(forSize: request.size)) }
            return
        }
        if buffer {
            do {
                try sendBuffered(p, to: server)
                return
            } catch .bufferedRingFull {
                // Xen falls back to the synchronous path when the ring is full.
            }
        }
        let data = try sendSynchronously(vcpu: vcpu, p, to: server)
        if p.isRead, !p.dataIsPointer { request.data = .value(data & IORequest.mask(forSize: request.size)) }
    }

    private func emulateElementwise(vcpu: Int, _ request: inout IORequest, buffer: UnsafeMutableRawPointer) throws(XenSimulationError) {
        let size = request.size
        for i in 0..<Int(request.count) {
            let step = UInt64(i * size)
            let address = request.space == .memory
                ? (request.decrementing ? request.address &- step : request.address &+ step)
                : request.address
            let element = buffer + i * size
            var single = IORequest(space: request.space, address: address, size: size, direction: request.direction)
            if request.direction == .write {
                var v: UInt64 = 0
                withUnsafeMutableBytes(of: &v) { $0.baseAddress!.copyMemory(from: element, byteCount: size) }
                single.data = .value(UInt64(littleEndian: v))
            }
            try emulate(vcpu: vcpu, &single)
            if request.direction == .read, let value = single.value {
                var v = value.littleEndian
                withUnsafeBytes(of: &v) { element.copyMemory(from: $0.baseAddress!, byteCount: size) }
            }
        }
    }

    /// Xen's null handler: reads see all ones (into the guest buffer for `data_is_ptr`).
    private func nullHandler(_ p: SimulatedIoreq) throws(XenSimulationError) {
        guard p.isRead, p.dataIsPointer else { return }
        for i in 0..<UInt64(p.count) {
            let offset = i &* UInt64(p.size)
            let gpa = p.decrementing ? p.data &- offset : p.data &+ offset
            do {
                try ram.memory.fill(0xff, at: gpa, length: Int(p.size))
            } catch {
                throw .invalidRequest("null-handler buffer at 0x\(String(gpa, radix: 16)) is not RAM")
            }
        }
    }

    /// `hvm_select_ioreq_server`: newest enabled server first; CFC-CFF with CF8 enabled
    /// become PCI-config requests for the function CF8 names.
    static func select(_ p: inout SimulatedIoreq, in s: State) -> SimulatedIoreqServer? {
        var kind: XenIORangeKind
        switch p.type {
        case SimulatedIoreq.pio: kind = .port
        case SimulatedIoreq.copy: kind = .memory
        case SimulatedIoreq.pciConfig: kind = .pci
        default: return s.enabledServers.first
        }
        var address = p.address
        if p.type == SimulatedIoreq.pio, p.address & ~3 == 0xcfc, s.cf8 & 0x8000_0000 != 0 {
            // hvm_pci_decode_addr: segment 0, BDF from CF8[23:8], register CF8[7:2] + port offset.
            let bdf = UInt64((s.cf8 >> 8) & 0xffff)
            let register = UInt64(s.cf8 & 0xfc) | (p.address & 3)
            kind = .pci
            address = bdf << 32 | register
        }
        for id in s.servers.keys.sorted(by: >) {
            guard let server = s.servers[id], server.enabled else { continue }
            switch kind {
            case .port:
                if server.contains(.port, first: address, last: address &+ UInt64(p.size) &- 1) { return server }
            case .memory:
                let (first, last) = p.mmioBytes
                if server.contains(.memory, first: first, last: last) { return server }
            case .pci:
                if server.contains(.pci, first: address >> 32, last: address >> 32) {
                    p.type = SimulatedIoreq.pciConfig
                    p.address = address
                    return server
                }
            }
        }
        return nil
    }

    private func server(_ id: IoreqServerID?) throws(XenSimulationError) -> SimulatedIoreqServer {
        let found: SimulatedIoreqServer? = state.withLock { s in
            if let id { return s.servers[id] }
            return s.enabledServers.first
        }
        guard let found else { throw .invalidRequest("no enabled ioreq server\(id.map { " \($0)" } ?? "")") }
        return found
    }

    /// Puts `request` in `vcpu`'s slot of `server` (the newest enabled one by default),
    /// bypassing range selection, and waits for the response; returns the slot's `data`.
    @discardableResult
    public func send(vcpu: Int, _ request: SimulatedIoreq, server: IoreqServerID? = nil) throws(XenSimulationError) -> UInt64 {
        try sendSynchronously(vcpu: vcpu, request, to: try self.server(server))
    }

    /// Puts a write in the buffered ring of `server` (the newest enabled one by default).
    public func sendBuffered(_ request: SimulatedIoreq, server: IoreqServerID? = nil) throws(XenSimulationError) {
        try sendBuffered(request, to: try self.server(server))
    }

    /// `send_invalidate_req`: an `IOREQ_TYPE_INVALIDATE` to every enabled server through
    /// `vcpu`'s slot (after the guest's memory map changed, e.g. ballooning).
    public func broadcastInvalidate(vcpu: Int) throws(XenSimulationError) {
        let servers = state.withLock { $0.enabledServers }
        let p = SimulatedIoreq(type: SimulatedIoreq.invalidate, address: 0, data: ~0, size: 4, isRead: false)
        for server in servers { _ = try sendSynchronously(vcpu: vcpu, p, to: server) }
    }

    /// `send_timeoffset_req`: the guest moved its RTC by `seconds`; buffered, 8 bytes, to
    /// every enabled server.
    public func sendTimeOffset(_ seconds: Int64) throws(XenSimulationError) {
        guard seconds != 0 else { return }
        let servers = state.withLock { $0.enabledServers }
        let p = SimulatedIoreq(type: SimulatedIoreq.timeOffset, address: 0, data: UInt64(bitPattern: seconds), size: 8, isRead: false)
        for server in servers { try sendBuffered(p, to: server) }
    }

    /// Resumes waiting for `vcpu`'s response after ``XenSimulationError/noResponse(vcpu:state:)``
    /// — as a later wake-up makes Xen re-check the slot — and returns its `data`.
    public func collectResponse(vcpu: Int, server: IoreqServerID? = nil) throws(XenSimulationError) -> UInt64 {
        try collectResponse(vcpu: vcpu, from: try self.server(server))
    }

    func collectResponse(vcpu: Int, from srv: SimulatedIoreqServer) throws(XenSimulationError) -> UInt64 {
        guard vcpu >= 0, vcpu < vcpuCount, vcpu < srv.vcpuPorts.count else { throw .noSuchVCPU(vcpu) }
        guard let wake = srv.wakes[vcpu] else { throw .emulatorGone(vcpu: vcpu) }
        return try gates[vcpu].lock.withLock { _ throws(XenSimulationError) -> UInt64 in
            try waitForResponse(vcpu: vcpu, slot: srv.slot(vcpu), wake: wake)
        }
    }

    /// The buffered ring as Xen sees it: both pointers and a copy of every slot.
    public func bufferedRing(server: IoreqServerID? = nil) throws(XenSimulationError) -> (readPointer: UInt32, writePointer: UInt32, slots: [buf_ioreq_t]) {
        let srv = try self.server(server)
        return srv.bufferedLock.withLock { _ in
            let page = srv.bufferedPage
            let slots = (0..<UInt32(IOREQ_BUFFER_SLOT_NUM)).map { swiftdm_bufioreq_slot(page, $0).pointee }
            return (swiftdm_bufioreq_load_read_pointer(page), swiftdm_bufioreq_load_write_pointer(page), slots)
        }
    }

    /// The state of `vcpu`'s slot (`STATE_*`) in `server` (the newest enabled one by default).
    public func slotState(vcpu: Int, server: IoreqServerID? = nil) throws(XenSimulationError) -> UInt8 {
        let srv = try self.server(server)
        guard vcpu >= 0, vcpu < srv.vcpuPorts.count else { throw .noSuchVCPU(vcpu) }
        return swiftdm_ioreq_load_state(srv.slot(vcpu))
    }

    // MARK: The ioreq protocol, Xen's half

    /// `ioreq_send` then `wait_for_io` (xen/common/ioreq.c).
    func sendSynchronously(vcpu: Int, _ request: SimulatedIoreq, to server: SimulatedIoreqServer) throws(XenSimulationError) -> UInt64 {
        guard vcpu >= 0, vcpu < vcpuCount, vcpu < server.vcpuPorts.count else { throw .noSuchVCPU(vcpu) }
        let port = server.vcpuPorts[vcpu]
        guard let wake = state.withLock({ $0.ports[port]?.wake }) else { throw .emulatorGone(vcpu: vcpu) }
        let slot = server.slot(vcpu)
        return try gates[vcpu].lock.withLock { _ throws(XenSimulationError) -> UInt64 in
            try place(vcpu: vcpu, request, in: slot, port: port, wake: wake)
            return try waitForResponse(vcpu: vcpu, slot: slot, wake: wake)
        }
    }

    /// `ioreq_send` without `wait_for_io`: fills `vcpu`'s slot of `server`, sets READY and
    /// raises the port (an event for an unbound port is lost, as in Xen). The caller waits
    /// for the answer later with ``collectResponse(vcpu:server:)``.
    func issue(vcpu: Int, _ request: SimulatedIoreq, to server: SimulatedIoreqServer) throws(XenSimulationError) {
        guard vcpu >= 0, vcpu < vcpuCount, vcpu < server.vcpuPorts.count else { throw .noSuchVCPU(vcpu) }
        let port = server.vcpuPorts[vcpu]
        guard let wake = state.withLock({ $0.ports[port]?.wake }) else { throw .emulatorGone(vcpu: vcpu) }
        try gates[vcpu].lock.withLock { _ throws(XenSimulationError) in
            try place(vcpu: vcpu, request, in: server.slot(vcpu), port: port, wake: wake)
        }
    }

    /// Fills a free slot and publishes it (the caller holds the vCPU's gate).
    private func place(vcpu: Int, _ request: SimulatedIoreq, in slot: UnsafeMutablePointer<ioreq_t>,
                       port: XenEventChannelPort, wake: EventNotifier) throws(XenSimulationError) {
        let current = swiftdm_ioreq_load_state(slot)
        guard current == UInt8(STATE_IOREQ_NONE) else { throw .slotBusy(vcpu: vcpu, state: current) }
        guard slot.pointee.vp_eport == port else {
            throw .badEventPort(vcpu: vcpu, found: slot.pointee.vp_eport, expected: port)
        }
        // Stale wake-ups from an earlier request must not end this wait early.
        wake.drain()
        slot.pointee = request.ioreq(state: UInt8(STATE_IOREQ_NONE), port: port)
        // Contents first, then READY (with the write barrier), then the event.
        swiftdm_ioreq_store_state(slot, UInt8(STATE_IOREQ_READY))
        notifyDeviceModel(port)
    }

    private func waitForResponse(vcpu: Int, slot: UnsafeMutablePointer<ioreq_t>, wake: EventNotifier) throws(XenSimulationError) -> UInt64 {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: responseTimeout)
        var previous = UInt8(STATE_IOREQ_NONE)
        var current = swiftdm_ioreq_load_state(slot)
        while current != UInt8(STATE_IOREQ_NONE) {
            guard current >= previous else { throw .badStateTransition(vcpu: vcpu, from: previous, to: current) }
            previous = current
            switch Int32(current) {
            case STATE_IORESP_READY:
                let data = slot.pointee.data
                swiftdm_ioreq_store_state(slot, UInt8(STATE_IOREQ_NONE))
                return data
            case STATE_IOREQ_READY, STATE_IOREQ_INPROCESS:
                // wait_on_xen_event_channel(port, state != previous): the condition is
                // checked before sleeping and after each event — never on a timer, so a
                // response without a notify is not seen until some later event.
                while true {
                    current = swiftdm_ioreq_load_state(slot)
                    if current != previous { break }
                    let left = deadline - clock.now
                    let ms = left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1
                    guard left > .zero, wake.wait(timeoutMs: Int32(clamping: ms)) > 0 else {
                        throw .noResponse(vcpu: vcpu, state: swiftdm_ioreq_load_state(slot))
                    }
                }
            default:
                throw .badStateTransition(vcpu: vcpu, from: previous, to: current)
            }
        }
        throw .emulatorGone(vcpu: vcpu)
    }

    /// `ioreq_send_buffered` (xen/common/ioreq.c).
    func sendBuffered(_ p: SimulatedIoreq, to server: SimulatedIoreqServer) throws(XenSimulationError) {
        guard server.handling != .off else { throw .bufferedRingFull }
        // Xen silently drops these (returns "handled"); refuse them so callers notice.
        guard p.address <= 0xfffff else { throw .notBufferable("address 0x\(String(p.address, radix: 16)) above 1 MiB") }
        guard !p.dataIsPointer, p.count == 1 else { throw .notBufferable("data_is_ptr or count \(p.count)") }
        guard !p.isRead else { throw .notBufferable("reads cannot be buffered") }
        let sizeLog2: UInt8
        switch p.size {
        case 1: sizeLog2 = 0
        case 2: sizeLog2 = 1
        case 4: sizeLog2 = 2
        case 8: sizeLog2 = 3
        default: throw .notBufferable("size \(p.size)")
        }
        let qw: UInt32 = sizeLog2 == 3 ? 1 : 0
        let slots = UInt32(IOREQ_BUFFER_SLOT_NUM)
        let page = server.bufferedPage
        try server.bufferedLock.withLock { _ throws(XenSimulationError) in
            let write = page.pointee.write_pointer
            let read = swiftdm_bufioreq_load_read_pointer(page)
            guard write &- read < slots - qw else { throw .bufferedRingFull }
            let address = UInt32(p.address)
            swiftdm_bufioreq_store_slot(page, write, swiftdm_bufioreq_make(p.type, UInt8(IOREQ_WRITE), sizeLog2, address, UInt32(truncatingIfNeeded: p.data)))
            if qw == 1 {
                swiftdm_bufioreq_store_slot(page, write &+ 1, swiftdm_bufioreq_make(p.type, UInt8(IOREQ_WRITE), sizeLog2, address, UInt32(truncatingIfNeeded: p.data >> 32)))
            }
            // Slots before the pointer (smp_wmb + store).
            swiftdm_bufioreq_store_write_pointer(page, write &+ 1 &+ qw)
            // Canonicalise the pointers so they never overflow (atomic mode only).
            var tries = qw
            while server.handling == .atomic, tries < slots {
                tries += 1
                let r = swiftdm_bufioreq_load_read_pointer(page)
                guard r >= slots else { break }
                let w = swiftdm_bufioreq_load_write_pointer(page)
                let rebase = (r / slots) * slots
                _ = swiftdm_bufioreq_rebase_pointers(page, r, w, r - rebase, w &- rebase)
            }
            notifyDeviceModel(server.bufferedPort)
        }
    }
}

extension EventNotifierError {
    var errnoValue: Int32 {
        switch self {
        case .createFailed(let e), .writeFailed(_, let e): e
        }
    }
}
