import CKVM
import DeviceModel
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One entry of the VM's GSI routing table.
public enum GSIRoute: Sendable, Hashable {
    /// GSI → pin of an in-kernel interrupt controller.
    case irqchip(gsi: UInt32, chip: IRQChip, pin: UInt32)
    /// GSI → an MSI message (for irqfds).
    case msi(gsi: UInt32, message: MSIMessage)

    /// The in-kernel interrupt controllers of `KVM_CREATE_IRQCHIP`.
    public enum IRQChip: Sendable, Hashable {
        case picMaster, picSlave, ioapic
        var raw: UInt32 {
            switch self {
            case .picMaster: ckvm_irqchip_pic_master()
            case .picSlave: ckvm_irqchip_pic_slave()
            case .ioapic: ckvm_irqchip_ioapic()
            }
        }
    }

    public var gsi: UInt32 {
        switch self {
        case .irqchip(let g, _, _), .msi(let g, _): g
        }
    }

    var raw: ckvm_route {
        switch self {
        case .irqchip(let gsi, let chip, let pin):
            ckvm_route(gsi: gsi, type: ckvm_route_type_irqchip(), irqchip: chip.raw, pin: pin, msi_address: 0, msi_data: 0)
        case .msi(let gsi, let m):
            ckvm_route(gsi: gsi, type: ckvm_route_type_msi(), irqchip: 0, pin: 0, msi_address: m.address, msi_data: m.data)
        }
    }
}

/// The VM's GSI routing table (`KVM_SET_GSI_ROUTING`) and its irqfds (`KVM_IRQFD`).
///
/// `KVM_SET_GSI_ROUTING` replaces the whole table, so this object owns it: the irqchip routes it
/// was created with plus the MSI routes added here, from GSI 24 up. With an irqfd on an MSI
/// route, a device thread raises the interrupt by writing an eventfd, without an ioctl and
/// without knowing the message.
public final class KVMGSIRouting: Sendable {
    /// The first GSI handed out for MSI routes (after the IOAPIC's pins).
    public static let firstMSIGSI: UInt32 = 24

    public let vm: KVMVirtualMachine
    /// The irqchip part of the table.
    public let irqchipRoutes: [GSIRoute]
    private let state = Mutex<State>(State())

    private struct State {
        var msiRoutes: [UInt32: MSIMessage] = [:]
        var nextGSI = KVMGSIRouting.firstMSIGSI
        var freeGSIs: [UInt32] = []
    }

    /// Takes over the routing table of `vm`. Nothing is installed until ``install()`` or the
    /// first MSI route; until then the kernel's default table (``kernelDefaultRoutes``) applies.
    public init(vm: KVMVirtualMachine, irqchipRoutes: [GSIRoute] = KVMGSIRouting.kernelDefaultRoutes) {
        self.vm = vm
        self.irqchipRoutes = irqchipRoutes
    }

    /// The kernel's default x86 routes (`kvm_setup_default_irq_routing`): GSI n → IOAPIC pin n
    /// for n < 24, and → pin n % 8 of the master (n < 8) or slave PIC for n < 16.
    public static let kernelDefaultRoutes: [GSIRoute] = {
        var routes: [GSIRoute] = []
        for gsi in UInt32(0)..<24 {
            routes.append(.irqchip(gsi: gsi, chip: .ioapic, pin: gsi))
            if gsi < 16 { routes.append(.irqchip(gsi: gsi, chip: gsi < 8 ? .picMaster : .picSlave, pin: gsi % 8)) }
        }
        return routes
    }()

    /// The PC's wiring, as QEMU sets it up for KVM: like the kernel's, except that GSI 0 (the
    /// in-kernel PIT's output) reaches IOAPIC pin 2, matching the MADT/MP-table interrupt source
    /// override "ISA IRQ 0 → GSI 2", and GSI 2 (the PIC cascade) has no route.
    public static let pcCompatibleRoutes: [GSIRoute] = {
        var routes: [GSIRoute] = []
        for gsi in UInt32(0)..<24 where gsi != 2 {
            routes.append(.irqchip(gsi: gsi, chip: .ioapic, pin: gsi == 0 ? 2 : gsi))
            if gsi < 16 { routes.append(.irqchip(gsi: gsi, chip: gsi < 8 ? .picMaster : .picSlave, pin: gsi % 8)) }
        }
        return routes
    }()

    /// The table as last installed (or as it will be).
    public var routes: [GSIRoute] {
        state.withLock { s in irqchipRoutes + s.msiRoutes.sorted { $0.key < $1.key }.map { GSIRoute.msi(gsi: $0.key, message: $0.value) } }
    }

    /// Installs the table now (the irqchip routes plus any MSI routes).
    public func install() throws(KVMError) {
        try state.withLock { (s: inout State) throws(KVMError) in try install(s) }
    }

    /// Adds a route for `message` and returns its GSI.
    public func addMSIRoute(_ message: MSIMessage) throws(KVMError) -> UInt32 {
        try state.withLock { (s: inout State) throws(KVMError) -> UInt32 in
            let limit = UInt32(max(vm.system.check(.irqRouting), 0))
            let gsi: UInt32
            if let reused = s.freeGSIs.popLast() {
                gsi = reused
            } else {
                guard s.nextGSI < limit else {
                    throw .ioctlFailed("MSI route: all \(limit) GSIs in use", errno: ENOSPC)
                }
                gsi = s.nextGSI
                s.nextGSI += 1
            }
            var next = s
            next.msiRoutes[gsi] = message
            do throws(KVMError) {
                try install(next)
            } catch {
                s.freeGSIs.append(gsi)
                throw error
            }
            s.msiRoutes[gsi] = message
            return gsi
        }
    }

    /// Points an existing MSI route at a new message (the guest reprogrammed an MSI-X entry).
    public func updateMSIRoute(gsi: UInt32, to message: MSIMessage) throws(KVMError) {
        try state.withLock { (s: inout State) throws(KVMError) in
            guard s.msiRoutes[gsi] != nil else { throw .ioctlFailed("update of MSI route for unknown GSI \(gsi)", errno: ENOENT) }
            var next = s
            next.msiRoutes[gsi] = message
            try install(next)
            s = next
        }
    }

    /// Removes an MSI route; detach its irqfd first.
    public func removeMSIRoute(gsi: UInt32) throws(KVMError) {
        try state.withLock { (s: inout State) throws(KVMError) in
            guard s.msiRoutes[gsi] != nil else { throw .ioctlFailed("removal of MSI route for unknown GSI \(gsi)", errno: ENOENT) }
            var next = s
            next.msiRoutes[gsi] = nil
            try install(next)
            next.freeGSIs.append(gsi)
            s = next
        }
    }

    private func install(_ s: State) throws(KVMError) {
        let table = (irqchipRoutes + s.msiRoutes.map { GSIRoute.msi(gsi: $0.key, message: $0.value) }).map(\.raw)
        let r = table.withUnsafeBufferPointer { ckvm_set_gsi_routing(vm.fd, $0.baseAddress, UInt32($0.count)) }
        guard r == 0 else { throw .ioctlFailed("KVM_SET_GSI_ROUTING (\(table.count) routes)", errno: errno) }
    }

    /// `KVM_IRQFD`: signalling `notifier` raises `gsi`. With `resample`, the GSI is level-triggered:
    /// the kernel lowers it and signals `resample` on the guest's EOI.
    public func attachIrqfd(_ notifier: EventNotifier, gsi: UInt32, resample: EventNotifier? = nil) throws(KVMError) {
        guard ckvm_irqfd(vm.fd, notifier.fd, gsi, resample?.fd ?? -1, 0) == 0 else {
            throw .ioctlFailed("KVM_IRQFD(fd \(notifier.fd) → gsi \(gsi))", errno: errno)
        }
    }

    /// Detaches an irqfd attached with ``attachIrqfd(_:gsi:resample:)``.
    public func detachIrqfd(_ notifier: EventNotifier, gsi: UInt32) throws(KVMError) {
        guard ckvm_irqfd(vm.fd, notifier.fd, gsi, -1, 1) == 0 else {
            throw .ioctlFailed("KVM_IRQFD deassign (fd \(notifier.fd), gsi \(gsi))", errno: errno)
        }
    }

    /// An MSI route with an irqfd attached: the usual way to give a device thread an interrupt.
    public func makeMSIRoute(_ message: MSIMessage) throws(KVMError) -> MSIRoute {
        let notifier: EventNotifier
        do {
            notifier = try EventNotifier()
        } catch {
            if case .createFailed(let e) = error { throw .ioctlFailed("eventfd for irqfd", errno: e) }
            throw .ioctlFailed("eventfd for irqfd", errno: EIO)
        }
        let gsi = try addMSIRoute(message)
        do {
            try attachIrqfd(notifier, gsi: gsi)
        } catch {
            try? removeMSIRoute(gsi: gsi)
            throw error
        }
        return MSIRoute(routing: self, gsi: gsi, notifier: notifier)
    }
}

/// An MSI delivered through an irqfd: ``signal()`` writes the eventfd, the kernel injects the
/// message currently routed to ``gsi``. Removed from the table when released. Serves as an
/// MSI-X vector's ``MSIVectorRoute``.
public final class MSIRoute: MSIVectorRoute {
    public let routing: KVMGSIRouting
    public let gsi: UInt32
    /// Write 1 here (from any thread) to raise the interrupt.
    public let notifier: EventNotifier

    init(routing: KVMGSIRouting, gsi: UInt32, notifier: EventNotifier) {
        self.routing = routing
        self.gsi = gsi
        self.notifier = notifier
    }

    deinit {
        try? routing.detachIrqfd(notifier, gsi: gsi)
        try? routing.removeMSIRoute(gsi: gsi)
    }

    /// Raises the interrupt.
    public func signal() throws(InterruptError) {
        do {
            try notifier.signal()
        } catch {
            if case .writeFailed(_, let e) = error { throw .deliveryFailed(what: "irqfd for gsi \(gsi)", errno: e) }
            throw .deliveryFailed(what: "irqfd for gsi \(gsi)", errno: EIO)
        }
    }

    /// Changes the message (the guest rewrote the MSI-X table entry).
    public func update(_ message: MSIMessage) throws(InterruptError) {
        do {
            try routing.updateMSIRoute(gsi: gsi, to: message)
        } catch {
            throw InterruptError(error, what: "MSI route gsi \(gsi) → \(message)")
        }
    }
}
