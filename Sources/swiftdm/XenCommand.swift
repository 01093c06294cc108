import ArgumentParser
import DeviceModel
import Logging
import VirtioDevices
import XenGlue
#if canImport(Glibc)
import Glibc
#endif

/// `swiftdm xen --domid N`: serve an existing Xen HVM domain as one of its ioreq servers.
///
/// Runs in dom0. Attaches (creates and enables an ioreq server, binds the event channels,
/// maps the ioreq pages), builds PCI bus 0 with Xen's INTx wiring and one virtio-blk
/// (virtio-pci, MSI-X through `inject_msi`, rings through foreign mappings) per `--disk`,
/// claims the functions and follows their BARs, reports `running` in xenstore, then
/// serves until SIGINT/SIGTERM and detaches. Any failure is one line on stderr and a
/// non-zero exit.
struct XenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xen",
        abstract: "Attach to an existing Xen HVM domain as its ioreq server (run in dom0).")

    @Option(name: .long, help: "The HVM domain to serve (1…32751).")
    var domid: UInt16

    @Option(name: .long, help: ArgumentHelp(
        "A raw disk image for the guest, as virtio-blk over PCI (repeatable).", valueName: "path[,readonly=on][,serial=id]"))
    var disk: [String] = []

    /// Why the command line is unusable, in one line.
    struct UsageProblem: Error {
        let message: String
    }

    /// The checked disks.
    func checkedDisks() throws(UsageProblem) -> [DiskSpec] {
        // DOMID_FIRST_RESERVED is 0x7ff0; domain 0 is not an HVM guest.
        guard domid != 0, domid < 0x7ff0 else { throw UsageProblem(message: "--domid must name a guest domain (1…32751), not \(domid)") }
        var specs: [DiskSpec] = []
        for text in disk {
            let spec: DiskSpec
            do {
                spec = try DiskSpec(parsing: text)
            } catch {
                throw UsageProblem(message: "\(error)")
            }
            // An HVM guest finds devices by PCI enumeration; virtio-mmio has nothing to announce it.
            if spec.transport == .mmio { throw UsageProblem(message: "--disk \(spec.path): Xen guests get virtio-blk over PCI only") }
            if let problem = RunConfiguration.fileProblem(spec.path, writable: !spec.readOnly) {
                throw UsageProblem(message: "--disk \(spec.path): \(problem)")
            }
            specs.append(spec)
        }
        return specs
    }

    static func fail(_ message: String, status: Int32) throws -> Never {
        let line = "swiftdm xen: \(message)\n"
        _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
        throw ExitCode(status)
    }

    func run() throws {
        let disks: [DiskSpec]
        do {
            disks = try checkedDisks()
        } catch {
            try Self.fail(error.message, status: 2)
        }
        // Handle SIGINT/SIGTERM with sigwait: block them before any I/O thread exists so
        // every thread inherits the mask.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        let attachment: XenAttachment
        do {
            attachment = try XenAttachment(domid: domid, disks: disks)
        } catch {
            try Self.fail("cannot attach to domain \(domid): \(error)", status: 1)
        }
        var received: Int32 = 0
        sigwait(&signals, &received)
        attachment.detach()
    }
}

/// What `swiftdm xen` sets up for one domain.
struct XenAttachment {
    enum AttachError: Error, CustomStringConvertible {
        case pci(PCIError)
        case busFull(String)
        case device(path: String, reason: String)

        var description: String {
            switch self {
            case .pci(let e): "PCI bus: \(e)"
            case .busFull(let path): "--disk \(path): no free PCI slot"
            case .device(let path, let reason): "--disk \(path): \(reason)"
            }
        }
    }

    let server: XenIoreqServer
    let bus: PCIBus
    /// The virtio-pci functions (they hold their devices).
    let functions: [any PCIFunction]

    init(domid: XenDomainID, disks: [DiskSpec]) throws {
        let logger = Logger(label: "swiftdm.xen")
        let hypervisor = try XenHypervisor.openLibxen()
        let dispatcher = IODispatcher()
        let server = try XenIoreqServer(domid: domid, hypervisor: hypervisor, dispatcher: dispatcher, logger: logger)
        do {
            bus = try PCIBus(dispatcher: dispatcher, interruptLines: server.interruptLines,
                             intxRouting: XenInterruptLines.pciINTxRouting, logger: logger)
            var functions: [any PCIFunction] = []
            var claimed: [PCIAddress] = []
            for disk in disks {
                let device: VirtioBlockDevice
                let transport: VirtioPCITransport<VirtioBlockDevice>
                do {
                    device = try VirtioBlockDevice(configuration: VirtioBlockConfiguration(
                        path: disk.path, readOnly: disk.readOnly, serial: disk.serial, vcpus: server.vcpuCount))
                    // Rings through foreign mappings, MSI-X through inject_msi, queue
                    // notifies through the software ioeventfd table (Xen has no ioeventfd).
                    transport = try VirtioPCITransport(
                        device: device, memory: server.guestMemory, msi: server.msiController,
                        ioEvents: dispatcher.softwareIOEvents)
                } catch {
                    throw AttachError.device(path: disk.path, reason: "\(error)")
                }
                guard let slot = bus.firstFreeSlot, let address = PCIAddress(bus: 0, device: slot, function: 0) else {
                    throw AttachError.busFull(disk.path)
                }
                do {
                    try bus.attach(transport, device: slot)
                } catch {
                    throw AttachError.pci(error)
                }
                functions.append(transport)
                claimed.append(address)
            }
            self.functions = functions
            // Ports and MMIO follow the dispatcher (BARs move when the guest programs them);
            // PCI functions are claimed one by one — other ioreq servers may own other slots.
            server.mirrorRegistrations(of: [.port, .memory])
            for address in claimed {
                guard let range = AddressRange(base: address.configAddress(register: 0), length: 4096) else { continue }
                try server.claim(.pciConfig, range)
            }
            try server.start()
        } catch {
            server.stop()
            throw error
        }
        self.server = server
        logger.info("serving domain \(domid) as ioreq server \(server.id) with \(server.vcpuCount) vCPUs, \(disks.count) disk(s)")
    }

    func detach() {
        server.stop()
    }
}
