import ArgumentParser
import DeviceModel
import Logging
import XenGlue
#if canImport(Glibc)
import Glibc
#endif

/// `swiftdm xen --domid N`: serve an existing Xen HVM domain as one of its ioreq servers.
///
/// Runs in dom0. Attaches (creates and enables an ioreq server, binds the event channels,
/// maps the ioreq pages), builds PCI bus 0 with Xen's INTx wiring, claims what is
/// registered, reports `running` in xenstore, then serves until SIGINT/SIGTERM and
/// detaches. Any failure is one line on stderr and a non-zero exit.
struct XenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xen",
        abstract: "Attach to an existing Xen HVM domain as its ioreq server (run in dom0).")

    @Option(name: .long, help: "The HVM domain to serve (1…32751).")
    var domid: UInt16

    @Option(name: .long, help: "A raw disk image for the guest, as virtio-blk over PCI (repeatable).")
    var disk: [String] = []

    func validate() throws {
        // DOMID_FIRST_RESERVED is 0x7ff0; domain 0 is not an HVM guest.
        guard domid != 0, domid < 0x7ff0 else {
            throw ValidationError("--domid must name a guest domain (1…32751), not \(domid)")
        }
    }

    func run() throws {
        // Handle SIGINT/SIGTERM with sigwait: block them before any I/O thread exists so
        // every thread inherits the mask.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        let attachment: XenAttachment
        do {
            attachment = try XenAttachment(domid: domid, disks: disk)
        } catch {
            let line = "swiftdm xen: cannot attach to domain \(domid): \(error)\n"
            _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
            throw ExitCode.failure
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
        case disksUnsupported([String])

        var description: String {
            switch self {
            case .pci(let e): "PCI bus: \(e)"
            case .disksUnsupported(let paths):
                "--disk \(paths.joined(separator: ", ")): this build has no virtio-blk device to offer it with"
            }
        }
    }

    let server: XenIoreqServer
    let bus: PCIBus

    init(domid: XenDomainID, disks: [String]) throws {
        let logger = Logger(label: "swiftdm.xen")
        let hypervisor = try XenHypervisor.openLibxen()
        let dispatcher = IODispatcher()
        let server = try XenIoreqServer(domid: domid, hypervisor: hypervisor, dispatcher: dispatcher, logger: logger)
        do {
            bus = try PCIBus(dispatcher: dispatcher, interruptLines: server.interruptLines,
                             intxRouting: XenInterruptLines.pciINTxRouting, logger: logger)
        } catch {
            server.stop()
            throw AttachError.pci(error)
        }
        guard disks.isEmpty else {
            server.stop()
            throw AttachError.disksUnsupported(disks)
        }
        do {
            // Ports and MMIO follow the dispatcher (BARs move when the guest programs them);
            // PCI functions are claimed one by one — other ioreq servers may own other slots.
            server.mirrorRegistrations(of: [.port, .memory])
            for device in UInt8(0)..<32 {
                for function in UInt8(0)..<8 where bus.function(device: device, function: function) != nil {
                    guard let address = PCIAddress(bus: 0, device: device, function: function),
                          let range = AddressRange(base: address.configAddress(register: 0), length: 4096) else { continue }
                    try server.claim(.pciConfig, range)
                }
            }
            try server.start()
        } catch {
            server.stop()
            throw error
        }
        self.server = server
        logger.info("serving domain \(domid) as ioreq server \(server.id) with \(server.vcpuCount) vCPUs")
    }

    func detach() {
        server.stop()
    }
}
