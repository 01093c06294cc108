import DeviceModel
import Logging
import Synchronization
import XenGlue

/// A whole simulated Xen domain with swiftdm attached as its only ioreq server: what a
/// launcher needs to run a real guest with every I/O exit going through the ioreq protocol
/// (`swiftdm run --ioreq xen-sim`).
///
/// The launcher maps ``ram`` into its hypervisor (the regions of one memfd), hands each
/// vCPU exit to ``xen`` (``SimulatedXen/emulate(vcpu:_:)``), gives devices
/// ``guestMemory`` (foreign-mapped, as on Xen), ``msiController`` and ``interruptLines``,
/// registers ioeventfds in the dispatcher's software table, and tells the domain where
/// interrupts finally go with ``deliverInterrupts(msi:line:pciRouting:)``.
public final class SimulatedXenDomain: Sendable {
    public let ram: SharedGuestRAM
    public let xen: SimulatedXen
    public let server: XenIoreqServer

    /// Guest RAM as the device model sees it on Xen: mapped on demand through foreign memory.
    public var guestMemory: PageMappedGuestMemory { server.guestMemory }
    /// MSIs through the simulated `xendevicemodel_inject_msi`.
    public var msiController: XenMSIController { server.msiController }
    /// ISA IRQs and PCI INTx through the simulated `set_isa_irq_level`/`set_pci_intx_level`;
    /// give a `PCIBus` `XenInterruptLines.pciINTxRouting` with it.
    public var interruptLines: XenInterruptLines { server.interruptLines }

    private let intx = WiredOr()

    /// Creates the simulated hypervisor over `ram` and the ioreq server on `dispatcher`,
    /// which claims everything the dispatcher serves (now and later), and starts serving.
    public init(domid: XenDomainID = 1, vcpuCount: Int, ram: SharedGuestRAM,
                dispatcher: IODispatcher, responseTimeout: Duration = .seconds(10),
                logger: Logger = Logger(label: "swiftdm.xen-sim"),
                faultHandler: @escaping @Sendable (XenIoreqError) -> Void = { _ in }) throws {
        self.ram = ram
        xen = try SimulatedXen(domid: domid, vcpuCount: vcpuCount, ram: ram, responseTimeout: responseTimeout)
        // The domain's only device model, so its primary: it tells the toolstack it runs.
        server = try XenIoreqServer(domid: domid, hypervisor: try xen.openHypervisor(), dispatcher: dispatcher,
                                    announcesReadiness: true, logger: logger, faultHandler: faultHandler)
        // The only device model of the domain: claim every port, MMIO range and PCI function
        // the dispatcher serves, following BAR changes.
        server.mirrorRegistrations(of: [.port, .memory, .pciConfig])
        try server.start()
    }

    /// Routes the interrupts the device model raises to the real machine: MSIs to `msi`,
    /// wired lines to `line(gsi, level)`. ISA IRQs use Xen's ISA-to-GSI map (IRQ 0 is GSI 2);
    /// PCI INTx pins use `pciRouting` (the machine's own slot/pin → GSI rule, which its
    /// firmware tables describe), wired-OR across the functions sharing a GSI.
    public func deliverInterrupts(msi: @escaping @Sendable (MSIMessage) -> Void,
                                  line: @escaping @Sendable (UInt32, Bool) -> Void,
                                  pciRouting: PCIINTxRouting) {
        xen.setInterruptSink { [intx] interrupt in
            switch interrupt {
            case .msi(let message):
                msi(message)
            case .isaIRQ(_, let asserted):
                if let gsi = interrupt.gsi { line(gsi, asserted) }
            case .pciINTx(_, _, let device, let pin, let asserted):
                guard let pciPin = PCIInterruptPin(rawValue: pin + 1) else { return }
                let gsi = pciRouting.gsi(device, pciPin)
                let source = UInt16(device) << 2 | UInt16(pin)
                if let level = intx.set(gsi: gsi, source: source, asserted: asserted) { line(gsi, level) }
            }
        }
    }

    /// Detaches the ioreq server.
    public func stop() { server.stop() }
}

/// Level-triggered GSIs shared by several INTx sources: asserted while any source asserts.
private final class WiredOr: Sendable {
    private let sources = Mutex<[UInt32: Set<UInt16>]>([:])

    /// Records `source`'s level on `gsi`; returns the GSI's new level when it changed.
    func set(gsi: UInt32, source: UInt16, asserted: Bool) -> Bool? {
        sources.withLock { table in
            let before = !(table[gsi] ?? []).isEmpty
            if asserted { table[gsi, default: []].insert(source) } else { table[gsi]?.remove(source) }
            let after = !(table[gsi] ?? []).isEmpty
            return before == after ? nil : after
        }
    }
}
