import CXen
import DeviceModel
import Logging
import Synchronization

/// swiftdm as an ioreq server of one Xen HVM domain.
///
/// Attaching (``init(domid:hypervisor:dispatcher:vcpuCount:logger:faultHandler:)``)
/// follows what Xen expects of a device model (and what QEMU does in
/// `xen_register_ioreq`): create an ioreq server with atomic buffered ioreqs, map its
/// two pages with `xenforeignmemory_map_resource`, look up the buffered event channel,
/// enable the server, then bind one event channel per vCPU (the remote ports Xen wrote
/// into each slot's `vp_eport` when it enabled the server) and one for the buffered ring.
/// ``start()`` begins serving on a dedicated ``EventLoop`` thread watching the event-channel
/// fd, first answering whatever arrived between the enable and the binds, and — for the
/// domain's primary device model only (`announcesReadiness`) — writes
/// `device-model/<domid>/state = running` so the toolstack unpauses the domain.
///
/// ``stop()`` detaches in the order that leaves no vCPU waiting: disable (Xen routes nothing
/// more here), answer what arrived before that, stop the thread, then destroy the server,
/// unbind and unmap.
///
/// Every synchronous request (`IOREQ_TYPE_PIO`, `COPY`, `PCI_CONFIG`) becomes an
/// `IORequest` for the shared ``IODispatcher`` (its software ioeventfds included), with
/// `data_is_ptr` buffers resolved through ``guestMemory``; `IOREQ_TYPE_INVALIDATE` drops
/// the mapping cache and `IOREQ_TYPE_TIMEOFFSET` accumulates the guest RTC offset.
/// Buffered writes are drained before each synchronous request, keeping guest order.
///
/// Faults (malformed requests, buffers outside RAM, failed notifies) never stop the
/// server: each is counted, logged and passed to the fault handler, and the vCPU gets a
/// defined answer (all ones for a failed read) whenever the protocol allows one.
public final class XenIoreqServer: @unchecked Sendable {
    // SAFETY (@unchecked): stored properties are immutable after init except `lifecycle`,
    // `mirrors` and `domainWatch` (Mutexes), `domainGone` and the counters (atomics). The shared ioreq pages are touched only on
    // `loop`'s thread; the ioreq protocol hands a slot to us from READY to IORESP_READY
    // and the buffered ring's read side is ours alone.

    /// Counters since attach (for tests, diagnostics and the closing benchmark).
    public struct Statistics: Sendable, Equatable {
        public var portIO: UInt64
        public var memory: UInt64
        public var pciConfig: UInt64
        public var invalidate: UInt64
        public var timeOffset: UInt64
        /// Entries taken from the buffered ring.
        public var buffered: UInt64
        /// Notifications that found no READY request in the slot.
        public var spurious: UInt64
        /// Faults reported to the fault handler.
        public var faults: UInt64
    }

    public let domid: XenDomainID
    public let id: IoreqServerID
    public let vcpuCount: Int
    public let hypervisor: XenHypervisor
    public let dispatcher: IODispatcher
    /// The domain's RAM, mapped on demand through foreign memory.
    public let guestMemory: PageMappedGuestMemory
    /// MSIs through `xendevicemodel_inject_msi`.
    public let msiController: XenMSIController
    /// ISA IRQs and PCI INTx pins through `set_isa_irq_level` / `set_pci_intx_level`.
    public let interruptLines: XenInterruptLines
    /// Frames of guest RAM the device model accessed, for Xen's dirty log: reported before
    /// each ioreq answer and each interrupt.
    public let modifiedFrames: XenModifiedFrameLog
    /// Whether ``start()`` tells the toolstack the device model runs (only the device model
    /// libxl launched for the domain may).
    public let announcesReadiness: Bool

    /// Most elements one repeated request may have (a page of bytes).
    static let maxRepeat = UInt32(SWIFTDM_XEN_PAGE_SIZE)

    private let pages: IoreqPages
    /// Local event-channel port of each vCPU's slot.
    private let vcpuPorts: [XenEventChannelPort]
    private let vcpuByPort: [XenEventChannelPort: Int]
    private let bufferedPort: XenEventChannelPort
    let loop: EventLoop
    let logger: Logger
    private let faultHandler: @Sendable (XenIoreqError) -> Void

    enum Lifecycle {
        case attached
        case serving(EventSource)
        case stopped
    }
    let lifecycle = Mutex<Lifecycle>(.attached)
    /// The `@releaseDomain` watch (``watchDomain(onGone:)``) and its token.
    let domainWatch = Mutex<(source: EventSource, token: String)?>(nil)
    /// Set once the domain was found gone.
    let domainGone = Atomic<Bool>(false)
    /// Address-space observers installed by ``mirrorRegistrations(of:)``.
    private let mirrors = Mutex<[(space: IOSpace, token: UInt64)]>([])
    private let counters = Counters()
    private let timeOffsetSeconds = Atomic<Int64>(0)

    /// Registers with `domid` as a new ioreq server (see the type's documentation).
    ///
    /// - Parameters:
    ///   - vcpuCount: the domain's vCPUs; asked from Xen (`xendevicemodel_nr_vcpus`) when nil.
    ///   - announcesReadiness: write `device-model/<domid>/state = running` in ``start()``.
    ///     Only the domain's primary device model (the one libxl launched and waits for) may;
    ///     a server attached next to it must not, or it would answer for the primary.
    ///   - faultHandler: called for every ``XenIoreqError``, on the thread that met it (the
    ///     I/O thread, or the one whose registration could not be mirrored).
    public init(
        domid: XenDomainID, hypervisor: XenHypervisor, dispatcher: IODispatcher,
        vcpuCount: Int? = nil, announcesReadiness: Bool = false, logger: Logger = Logger(label: "swiftdm.xen"),
        faultHandler: @escaping @Sendable (XenIoreqError) -> Void = { _ in }
    ) throws(XenError) {
        let control = hypervisor.control
        let channels = hypervisor.eventChannels
        let vcpus: Int
        if let vcpuCount { vcpus = vcpuCount } else { vcpus = try control.vcpuCount(domid: domid) }
        guard vcpus > 0 else { throw .noVCPUs(domid: domid) }
        guard vcpus <= IoreqPages.slotsPerPage else { throw .tooManyVCPUs(count: vcpus, slots: IoreqPages.slotsPerPage) }

        let id = try control.createIoreqServer(domid: domid, buffered: .atomic)
        var undo: [() -> Void] = [{ try? control.destroyIoreqServer(domid: domid, server: id) }]
        do throws(XenError) {
            let mapping = try hypervisor.foreignMemory.mapIoreqServerPages(domid: domid, server: id)
            undo.append { hypervisor.foreignMemory.unmapResource(mapping) }
            let pages = IoreqPages(mapping: mapping)
            let remoteBufferedPort = try control.bufferedIoreqPort(domid: domid, server: id)

            // Xen writes each vCPU's `vp_eport` when the server is enabled (ioreq_server_enable),
            // so the binds follow the enable, as in QEMU's xen_register_ioreq. Requests Xen
            // sends in between wait in their slots: start() looks at every slot first.
            try control.setIoreqServerState(domid: domid, server: id, enabled: true)
            undo.append { try? control.setIoreqServerState(domid: domid, server: id, enabled: false) }

            var ports: [XenEventChannelPort] = []
            for vcpu in 0..<vcpus {
                let port = try channels.bindInterdomain(domid: domid, remotePort: pages.slot(vcpu).eventPort)
                undo.append { try? channels.unbind(port) }
                ports.append(port)
            }
            let buffered = try channels.bindInterdomain(domid: domid, remotePort: remoteBufferedPort)
            undo.append { try? channels.unbind(buffered) }

            do {
                loop = try EventLoop(name: "xen-ioreq-\(domid)")
            } catch {
                throw XenError.eventLoop(error)
            }
            self.pages = pages
            self.vcpuPorts = ports
            self.bufferedPort = buffered
        } catch {
            for step in undo.reversed() { step() }
            throw error
        }

        self.domid = domid
        self.id = id
        self.vcpuCount = vcpus
        self.announcesReadiness = announcesReadiness
        self.hypervisor = hypervisor
        self.dispatcher = dispatcher
        self.logger = logger
        self.faultHandler = faultHandler
        var byPort: [XenEventChannelPort: Int] = [:]
        for (vcpu, port) in vcpuPorts.enumerated() { byPort[port] = vcpu }
        self.vcpuByPort = byPort
        let modified = XenModifiedFrameLog(control: control, domid: domid, logger: logger)
        self.modifiedFrames = modified
        self.guestMemory = PageMappedGuestMemory(
            mapper: XenForeignFrameMapper(foreignMemory: hypervisor.foreignMemory, domid: domid),
            accessObserver: { first, count in modified.record(firstFrame: first, count: count) })
        self.msiController = XenMSIController(control: control, domid: domid, modifiedFrames: modified)
        self.interruptLines = XenInterruptLines(control: control, domid: domid, modifiedFrames: modified)
    }

    deinit { detach(answeringLastRequests: false) }

    // MARK: Lifecycle

    /// The xenstore path the toolstack watches for the device model's state.
    public var statePath: String { "device-model/\(domid)/state" }

    /// Starts serving on the I/O thread: first every request already waiting in a slot or
    /// the buffered ring (Xen may send one as soon as the server is enabled, before its
    /// event channels were bound), then whatever the event channels report. With
    /// ``announcesReadiness``, then tells the toolstack the device model is `running`.
    public func start() throws(XenError) {
        let fd = hypervisor.eventChannels.fileDescriptor
        let source: EventSource = try lifecycle.withLock { (state: inout Lifecycle) throws(XenError) in
            guard case .attached = state else { throw .stopped }
            let source = loop.watch(fd: fd, for: .readable) { [weak self] _ in self?.serviceEvents() }
            state = .serving(source)
            return source
        }
        loop.execute { [weak self] in self?.serveWaitingRequests() }
        guard announcesReadiness else { return }
        do {
            try hypervisor.store.write("running", at: statePath)
        } catch {
            loop.sync { source.cancel() }
            lifecycle.withLock { $0 = .attached }
            throw error
        }
    }

    /// Stops serving and unregisters from the domain. Idempotent.
    ///
    /// The order leaves no vCPU waiting: disable the server first (from then on Xen sends
    /// nothing here), answer on the I/O thread every request that arrived before that, stop
    /// the thread, then destroy the server, unbind the event channels and unmap the pages.
    /// Calls that fail because the domain is gone are ignored.
    public func stop() { detach(answeringLastRequests: true) }

    /// ``stop()``; from `deinit` no request can be answered (the I/O thread's callbacks no
    /// longer reach this object), so the last requests are left to Xen.
    private func detach(answeringLastRequests: Bool) {
        let previous: Lifecycle = lifecycle.withLock { state in
            let old = state
            state = .stopped
            return old
        }
        if case .stopped = previous { return }
        let installed: [(space: IOSpace, token: UInt64)] = mirrors.withLock { m in
            let all = m
            m.removeAll()
            return all
        }
        for mirror in installed { dispatcher.addressSpace(mirror.space).removeObserver(mirror.token) }
        let control = hypervisor.control
        try? control.setIoreqServerState(domid: domid, server: id, enabled: false)
        let source: EventSource?
        if case .serving(let s) = previous { source = s } else { source = nil }
        let domainWatch = self.domainWatch.withLock { w in
            let old = w
            w = nil
            return old
        }
        if answeringLastRequests {
            // On the loop thread: once this returns, no callback is running or will run.
            loop.sync { [self] in
                serveWaitingRequests()
                source?.cancel()
                domainWatch?.source.cancel()
            }
        } else {
            loop.sync {
                source?.cancel()
                domainWatch?.source.cancel()
            }
        }
        loop.shutdown()
        if let domainWatch { try? hypervisor.store.unwatch("@releaseDomain", token: domainWatch.token) }
        modifiedFrames.flush()
        try? control.destroyIoreqServer(domid: domid, server: id)
        for port in vcpuPorts + [bufferedPort] { try? hypervisor.eventChannels.unbind(port) }
        hypervisor.foreignMemory.unmapResource(pages.mapping)
        guestMemory.invalidate()
    }

    // MARK: Claiming I/O

    /// Routes accesses in `range` of `space` to this server: port and MMIO ranges with
    /// `map_io_range_to_ioreq_server`, `.pciConfig` ranges (`SBDF << 32 | reg`) as the
    /// PCI functions they cover with `map_pcidev_to_ioreq_server`.
    public func claim(_ space: IOSpace, _ range: AddressRange) throws(XenError) {
        try route(space, range, claim: true)
    }

    /// Undoes ``claim(_:_:)`` for exactly the same range.
    public func release(_ space: IOSpace, _ range: AddressRange) throws(XenError) {
        try route(space, range, claim: false)
    }

    /// Claims every range registered in the dispatcher's three address spaces now.
    /// Returns the number of ranges claimed.
    @discardableResult
    public func claimRegisteredRanges() throws(XenError) -> Int {
        var n = 0
        for space in [IOSpace.port, .memory, .pciConfig] {
            for entry in dispatcher.addressSpace(space).entries {
                try claim(space, entry.range)
                n += 1
            }
        }
        return n
    }

    /// Claims every range registered in `spaces` now, and from then on claims and releases
    /// ranges as they are registered and unregistered (BARs the guest programs, devices
    /// plugged later) — what QEMU's memory listener does for its ioreq server. A claim the
    /// hypervisor refuses is reported as ``XenIoreqError/claimFailed(space:range:error:)``.
    ///
    /// Mirroring `.pciConfig` claims every function of each registered bus range; a device
    /// model sharing the domain with others claims its functions one by one instead.
    public func mirrorRegistrations(of spaces: [IOSpace]) {
        for space in spaces {
            let token = dispatcher.addressSpace(space).addObserver { [weak self] change in
                self?.mirror(space, change)
            }
            mirrors.withLock { $0.append((space, token)) }
        }
    }

    private func mirror(_ space: IOSpace, _ change: AddressSpaceChange) {
        do {
            switch change {
            case .added(let range, _): try claim(space, range)
            case .removed(let range, _): try release(space, range)
            }
        } catch {
            switch change {
            case .added(let range, _), .removed(let range, _):
                fault(.claimFailed(space: space, range: range, error: error))
            }
        }
    }

    private func route(_ space: IOSpace, _ range: AddressRange, claim: Bool) throws(XenError) {
        let control = hypervisor.control
        switch space {
        case .port, .memory:
            if space == .port, range.last > 0xffff {
                throw .invalidArgument(what: "I/O port range end", value: range.last)
            }
            let kind: XenIORangeKind = space == .port ? .port : .memory
            if claim {
                try control.mapIORange(domid: domid, server: id, kind: kind, first: range.base, last: range.last)
            } else {
                try control.unmapIORange(domid: domid, server: id, kind: kind, first: range.base, last: range.last)
            }
        case .pciConfig:
            for sbdf in (range.base >> 32)...(range.last >> 32) {
                let function = PCIAddress(sbdf: UInt32(truncatingIfNeeded: sbdf))
                if claim {
                    try control.mapPCIDevice(domid: domid, server: id, function: function)
                } else {
                    try control.unmapPCIDevice(domid: domid, server: id, function: function)
                }
            }
        }
    }

    // MARK: Observation

    public var statistics: Statistics { counters.snapshot() }

    /// Sum of the RTC offsets (seconds) Xen reported with `IOREQ_TYPE_TIMEOFFSET`: how far
    /// the guest set its clock from the host's; a toolstack keeps it for the next boot.
    public var guestTimeOffsetSeconds: Int64 { timeOffsetSeconds.load(ordering: .relaxed) }

    /// The local event-channel port bound for `vcpu`'s slot.
    public func eventPort(vcpu: Int) -> XenEventChannelPort? {
        vcpuPorts.indices.contains(vcpu) ? vcpuPorts[vcpu] : nil
    }

    // MARK: Serving (I/O thread)

    private func serviceEvents() {
        let channels = hypervisor.eventChannels
        while true {
            let port: XenEventChannelPort?
            do {
                port = try channels.pending()
            } catch {
                fault(.eventChannelFailed(function: "xenevtchn_pending", port: nil, errno: error.errno ?? 0))
                return
            }
            guard let port else { return }
            do {
                try channels.unmask(port)
            } catch {
                fault(.eventChannelFailed(function: "xenevtchn_unmask", port: port, errno: error.errno ?? 0))
            }
            if port == bufferedPort {
                drainBuffered()
            } else if let vcpu = vcpuByPort[port] {
                serve(vcpu: vcpu)
            } else {
                fault(.unknownPort(port))
            }
        }
    }

    /// Serves every request waiting in a slot, and the buffered ring, whether or not its
    /// event arrived: the slot's state is the truth, events only hints.
    private func serveWaitingRequests() {
        drainBuffered()
        for vcpu in 0..<vcpuCount where pages.slot(vcpu).state == UInt8(STATE_IOREQ_READY) {
            serve(vcpu: vcpu)
        }
    }

    private func serve(vcpu: Int) {
        // Buffered writes the guest issued earlier must land before this request.
        drainBuffered()
        let slot = pages.slot(vcpu)
        guard let request = slot.accept() else {
            counters.spurious.add(1, ordering: .relaxed)
            return
        }
        let data = handle(request, vcpu: vcpu)
        // What the request wrote to guest RAM (a `rep ins`, a device's DMA) is in Xen's
        // dirty log before the vCPU goes on.
        modifiedFrames.flush()
        if let state = slot.respond(data: data) {
            fault(.slotStateChanged(vcpu: vcpu, state: state))
            return
        }
        do {
            try hypervisor.eventChannels.notify(vcpuPorts[vcpu])
        } catch {
            fault(.notifyFailed(vcpu: vcpu, port: vcpuPorts[vcpu], errno: error.errno ?? 0))
        }
    }

    /// Serves one synchronous request; returns the slot's new `data`.
    private func handle(_ request: ioreq_t, vcpu: Int) -> UInt64 {
        let isValueRead = request.dir == UInt8(IOREQ_READ) && request.data_is_ptr == 0
        switch Int32(request.type) {
        case IOREQ_TYPE_INVALIDATE:
            counters.invalidate.add(1, ordering: .relaxed)
            guestMemory.invalidate()
            return request.data
        case IOREQ_TYPE_TIMEOFFSET:
            counters.timeOffset.add(1, ordering: .relaxed)
            timeOffsetSeconds.wrappingAdd(Int64(bitPattern: request.data), ordering: .relaxed)
            return request.data
        default:
            break
        }
        guard var io = IORequest(xenIoreq: request) else {
            fault(.unsupportedType(vcpu: vcpu, type: request.type))
            return isValueRead ? .max : request.data
        }
        count(io.space)
        do throws(IODispatchError) {
            // Xen splits repeated accesses at page boundaries, so no genuine request has
            // more elements than a page has bytes; refuse more rather than loop for ages.
            guard io.count <= Self.maxRepeat else { throw .invalidCount(io.count) }
            try dispatcher.dispatch(&io, guestMemory: guestMemory)
        } catch {
            fault(.dispatchFailed(vcpu: vcpu, request: io.description, error: error))
            return isValueRead ? IORequest.mask(forSize: io.size) : request.data
        }
        if isValueRead, let value = io.value { return value }
        return request.data
    }

    private func drainBuffered() {
        BufferedIoreqRing(page: pages.bufferedPage).drain({ entry in
            counters.buffered.add(1, ordering: .relaxed)
            handleBuffered(entry)
        }, fault: fault)
    }

    private func handleBuffered(_ entry: BufferedIoreq) {
        let space: IOSpace
        switch Int32(entry.type) {
        case IOREQ_TYPE_PIO: space = .port
        case IOREQ_TYPE_COPY: space = .memory
        case IOREQ_TYPE_TIMEOFFSET:
            counters.timeOffset.add(1, ordering: .relaxed)
            timeOffsetSeconds.wrappingAdd(Int64(bitPattern: entry.data), ordering: .relaxed)
            return
        case IOREQ_TYPE_INVALIDATE:
            counters.invalidate.add(1, ordering: .relaxed)
            guestMemory.invalidate()
            return
        default:
            fault(.unsupportedType(vcpu: nil, type: entry.type))
            return
        }
        count(space)
        var io = IORequest.write(space, UInt64(entry.address), size: entry.size, value: entry.data)
        do {
            try dispatcher.dispatch(&io, guestMemory: guestMemory)
        } catch {
            fault(.dispatchFailed(vcpu: nil, request: io.description, error: error))
        }
    }

    private func count(_ space: IOSpace) {
        switch space {
        case .port: counters.portIO.add(1, ordering: .relaxed)
        case .memory: counters.memory.add(1, ordering: .relaxed)
        case .pciConfig: counters.pciConfig.add(1, ordering: .relaxed)
        }
    }

    private func fault(_ error: XenIoreqError) {
        counters.faults.add(1, ordering: .relaxed)
        switch error {
        case .dispatchFailed, .unsupportedType, .bufferedRead:
            // The guest can cause these at will; keep them out of the default log.
            logger.debug("ioreq fault: \(error)")
        default:
            logger.warning("ioreq fault: \(error)")
        }
        faultHandler(error)
    }
}

/// The server's counters; written on the I/O thread, read anywhere.
private final class Counters: Sendable {
    let portIO = Atomic<UInt64>(0)
    let memory = Atomic<UInt64>(0)
    let pciConfig = Atomic<UInt64>(0)
    let invalidate = Atomic<UInt64>(0)
    let timeOffset = Atomic<UInt64>(0)
    let buffered = Atomic<UInt64>(0)
    let spurious = Atomic<UInt64>(0)
    let faults = Atomic<UInt64>(0)

    func snapshot() -> XenIoreqServer.Statistics {
        XenIoreqServer.Statistics(
            portIO: portIO.load(ordering: .relaxed), memory: memory.load(ordering: .relaxed),
            pciConfig: pciConfig.load(ordering: .relaxed), invalidate: invalidate.load(ordering: .relaxed),
            timeOffset: timeOffset.load(ordering: .relaxed), buffered: buffered.load(ordering: .relaxed),
            spurious: spurious.load(ordering: .relaxed), faults: faults.load(ordering: .relaxed))
    }
}
