import DeviceModel
import Logging
import XenGlue

/// A machine's I/O through the Xen ioreq protocol, for a guest that runs elsewhere (on KVM,
/// for `swiftdm run --ioreq xen-sim`).
///
/// Each exit is handed to a simulated Xen, which selects the ioreq server (CF8/CFC becoming
/// PCI-config requests, as on Xen), fills the vCPU's slot in the ioreq page and notifies its
/// event channel; XenGlue's ioreq server — the one `swiftdm xen` runs on a real dom0 — serves
/// it through the dispatcher and answers. Interrupts leave through the simulated
/// `inject_msi`/`set_*_level` and are delivered on the accelerator's own paths. Devices use
/// the foreign-mapped guest memory and software ioeventfds, exactly as under Xen.
public final class XenSimulatedIOPath: InterposedIOPath {
    /// How long a vCPU waits for the ioreq server before the run fails.
    public static let responseTimeout: Duration = .seconds(120)

    public let domain: SimulatedXenDomain

    public var guestMemory: PageMappedGuestMemory { domain.guestMemory }
    public var ioEvents: SoftwareIOEvents { domain.server.dispatcher.softwareIOEvents }
    public var msi: XenMSIController { domain.msiController }
    public var interruptLines: XenInterruptLines { domain.interruptLines }
    public var pciINTxRouting: PCIINTxRouting { XenInterruptLines.pciINTxRouting }

    /// Attaches a simulated domain to `context.ram` and `context.dispatcher`; interrupts reach
    /// the guest through `context.direct`, with PCI INTx lines named by `machineINTxRouting`.
    public init(_ context: InterposedIOPathContext, machineINTxRouting: PCIINTxRouting, logger: Logger = Logger(label: "swiftdm.xen-sim"))
        throws
    {
        domain = try SimulatedXenDomain(
            vcpuCount: context.vcpuCount, ram: context.ram, dispatcher: context.dispatcher, responseTimeout: Self.responseTimeout,
            logger: logger, faultHandler: { fault in logger.debug("ioreq fault: \(fault)") })
        let msi = context.direct.msi
        let lines = context.direct.interruptLines
        domain.deliverInterrupts(
            msi: { message in
                do { try msi.signal(message) } catch { logger.error("xen-sim: MSI \(message): \(error)") }
            },
            line: { gsi, level in
                do { try lines.line(gsi: gsi).setLevel(level) } catch { logger.error("xen-sim: GSI \(gsi): \(error)") }
            },
            pciRouting: machineINTxRouting)
        XenSimulationReport.install(domain)
    }

    public func handle(_ request: inout IORequest, vcpu: Int) throws(IORequestSinkError) {
        guard request.isWellFormed else {
            throw .rejected(request.count == 0 ? .invalidCount(request.count) : .invalidSize(request.size))
        }
        do {
            try domain.xen.emulate(vcpu: vcpu, &request)
        } catch {
            throw .failed("xen-sim ioreq \(request): \(error)")
        }
    }
}
