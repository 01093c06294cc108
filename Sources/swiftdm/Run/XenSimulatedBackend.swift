import DeviceModel
import KVMGlue
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization
import XenGlue
import XenSimulation

/// `--ioreq xen-sim`: the guest runs on KVM, but every I/O exit goes through the Xen ioreq
/// protocol. Each exit is handed to a simulated Xen, which selects the ioreq server (CF8/CFC
/// becoming PCI-config requests, as on Xen), fills the vCPU's slot in the ioreq page and
/// notifies its event channel; XenGlue's ioreq server — the same one `swiftdm xen` runs on a
/// real dom0 — serves it through the dispatcher and answers. Interrupts leave through the
/// simulated `inject_msi`/`set_*_level` and reach KVM's irqchip. Devices use the
/// foreign-mapped guest memory and software ioeventfds, exactly as under Xen.
enum XenSimulatedBackend {
    /// How long a vCPU waits for the ioreq server before the run fails.
    static let responseTimeout: Duration = .seconds(120)

    /// Attaches the simulated domain to `ram` (already KVM's memory slots) and `dispatcher`.
    static func make(
        vm: KVMVirtualMachine, dispatcher: IODispatcher, ram: SimulatedGuestRAM, vcpuCount: Int,
        machineINTxRouting: PCIINTxRouting, logger: Logger = Logger(label: "swiftdm.xen-sim")
    ) throws -> MachineIOBackend {
        let domain = try SimulatedXenDomain(
            vcpuCount: vcpuCount, ram: ram, dispatcher: dispatcher, responseTimeout: responseTimeout, logger: logger,
            faultHandler: { fault in logger.debug("ioreq fault: \(fault)") })
        let msi = KVMMSIController(vm: vm)
        let lines = KVMInterruptLines(vm: vm)
        domain.deliverInterrupts(
            msi: { message in
                do { try msi.signal(message) } catch { logger.error("xen-sim: MSI \(message): \(error)") }
            },
            line: { gsi, level in
                do { try lines.line(gsi: gsi).setLevel(level) } catch { logger.error("xen-sim: GSI \(gsi): \(error)") }
            },
            pciRouting: machineINTxRouting)
        return MachineIOBackend(
            sink: XenSimulatedExitSink(domain: domain),
            ioEvents: dispatcher.softwareIOEvents,
            msi: domain.msiController,
            lines: domain.interruptLines,
            intxRouting: XenInterruptLines.pciINTxRouting,
            guestMemory: domain.guestMemory,
            owner: domain)
    }
}

/// Hands each vCPU exit to the simulated Xen.
final class XenSimulatedExitSink: IORequestSink {
    let domain: SimulatedXenDomain

    init(domain: SimulatedXenDomain) {
        self.domain = domain
        XenSimulationReport.install(domain)
    }

    func handle(_ request: inout IORequest, vcpu: Int) throws(IORequestSinkError) {
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

/// With `SWIFTDM_XEN_SIM_STATS=<path>` in the environment, the ioreq server's counters are
/// written to that file when swiftdm exits — tests check that the guest's I/O really took
/// the ioreq path.
enum XenSimulationReport {
    static let variable = "SWIFTDM_XEN_SIM_STATS"
    private static let domain = Mutex<SimulatedXenDomain?>(nil)

    static func install(_ d: SimulatedXenDomain) {
        guard getenv(variable) != nil else { return }
        let first = domain.withLock { current in
            defer { current = d }
            return current == nil
        }
        if first { atexit { XenSimulationReport.write() } }
    }

    static func write() {
        guard let path = getenv(variable).map({ String(cString: $0) }), !path.isEmpty,
              let d = domain.withLock({ $0 }) else { return }
        let s = d.server.statistics
        let line = "pio=\(s.portIO) mmio=\(s.memory) pcicfg=\(s.pciConfig) buffered=\(s.buffered) faults=\(s.faults) "
            + "unclaimed=\(d.xen.unclaimedAccesses) interrupts=\(d.xen.interruptCount) msis=\(d.xen.msiCount)\n"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        _ = line.withCString { Glibc.write(fd, $0, strlen($0)) }
        close(fd)
    }
}
