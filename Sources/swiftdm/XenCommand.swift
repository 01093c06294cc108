import ArgumentParser
import DeviceModel
import Logging
import Machine
import QMP
import XenGlue
#if canImport(Glibc)
import Glibc
#endif

/// `swiftdm xen --domid N`: serve an existing Xen HVM domain as one of its ioreq servers.
///
/// Runs in dom0. Parses the devices with the machine library's catalogue (the spellings of
/// `swiftdm run`), attaches to the domain as an ioreq server and serves them on PCI bus 0
/// (``IOServerMachine``) until SIGINT/SIGTERM or until the domain is gone (destroyed,
/// powered off, rebooted: exit 0 with a log line). It is a secondary device model: it does
/// not write the readiness key of the domain's primary one. Any failure is one line on
/// stderr and a non-zero exit.
struct XenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xen",
        abstract: "Attach to an existing Xen HVM domain as its ioreq server (run in dom0).")

    @Option(name: .long, help: "The HVM domain to serve (1…32751).")
    var domid: UInt16

    @Option(name: .long, help: ArgumentHelp(
        "A raw disk image for the guest, as virtio-blk over PCI (repeatable).", valueName: "path[,readonly=on][,serial=id]"))
    var disk: [String] = []

    @Option(name: .long, help: ArgumentHelp("A virtio-net device on a tap interface (repeatable).", valueName: "tap=name[,mac=mac]"))
    var net: [String] = []

    @Flag(name: .long, help: "Add a virtio-rng device.")
    var rng = false

    @Option(name: .long, help: ArgumentHelp("A virtio-console device on this process's stdio or a UNIX socket.", valueName: "stdio|socket=path"))
    var console: String?

    @Option(name: .long, help: ArgumentHelp("Any device of the catalogue (repeatable).", valueName: "name[,key=value…]"))
    var device: [String] = []

    @Option(name: [.customLong("slots"), .customLong("slot")], help: ArgumentHelp(
        "PCI slots on bus 0 the devices take, in order; 0–3 hold the HVM platform (host bridge, PIIX3, VGA, Xen platform device) and slots the domain's qemu-xen uses are refused. Default: the free slots from 4.",
        valueName: "N[-M][,…]"))
    var slots: String?

    @Option(name: .customLong("peer-qmp"), help: ArgumentHelp(
        "The QMP socket of the domain's own device model (qemu-xen), asked which slots it uses; 'none' to ask nobody. Default: libxl's sockets for the domain, when they exist.",
        valueName: "path|none"))
    var peerQMP: String?

    @Flag(name: .customLong("check"), help: "Check the command line and the devices' files, print the devices, and exit.")
    var check = false

    /// The checked devices, in the order given by kind.
    func checkedDevices() throws(MachineError) -> [VirtioDeviceSpec] {
        // DOMID_FIRST_RESERVED is 0x7ff0; domain 0 is not an HVM guest.
        guard domid != 0, domid < 0x7ff0 else {
            throw .badValue(option: "--domid", value: "\(domid)", expected: "must name a guest domain (1…32751)")
        }
        var specs: [(option: String, spec: VirtioDeviceSpec)] = []
        do throws(DeviceSpecError) {
            for text in disk { specs.append(("--disk", try .block(parsing: text, option: "--disk"))) }
            for text in net { specs.append(("--net", try .net(parsing: text, option: "--net"))) }
            if rng { specs.append(("--rng", .entropy(EntropyDeviceSpec()))) }
            if let console { specs.append(("--console", try .console(parsing: console, option: "--console"))) }
            for text in device { specs.append(("--device", try .device(parsing: text))) }
        } catch {
            throw .badDevice(error)
        }
        for (option, spec) in specs {
            try HostFiles.check(spec, option: option)
        }
        return specs.map(\.spec)
    }

    static func fail(_ message: String, status: Int32) throws -> Never {
        printToStandardError("swiftdm xen: \(message)")
        throw ExitCode(status)
    }

    func run() throws {
        let devices: [VirtioDeviceSpec]
        var slotList: [UInt8]
        do {
            devices = try checkedDevices()
            slotList = try slots.map { text throws(MachineError) in try PCISlotList(parsing: text, option: "--slots") }?.slots
                ?? PCISlotList.afterXenfvPlatform.slots
        } catch {
            try Self.fail("\(error)", status: 2)
        }
        if check {
            for d in devices { print(d) }
            return
        }
        // Beside qemu-xen: never a slot it uses (its config cycles would come here instead).
        let peerSockets = peerQMP == "none" ? [] : peerQMP.map { [$0] } ?? PeerDeviceModelSlots.defaultSockets(domid: domid)
        do {
            if let peer = try PeerDeviceModelSlots.query(sockets: peerSockets) {
                if slots != nil, let taken = slotList.first(where: { peer.slots[$0] != nil }) {
                    try Self.fail("--slots: slot \(taken) is used by the domain's other device model (\(peer.slots[taken] ?? "")), per \(peer.socket)", status: 2)
                }
                slotList.removeAll { peer.slots[$0] != nil }
                printToStandardError("swiftdm xen: beside the device model at \(peer.socket), which uses slots \(peer.slots.keys.sorted().map(String.init).joined(separator: ", ")); devices go to slots \(slotList.prefix(devices.count).map(String.init).joined(separator: ", "))")
            } else if let peerQMP, peerQMP != "none" {
                try Self.fail("--peer-qmp \(peerQMP): no such socket", status: 2)
            }
        } catch let failure as QMPClient.Failure {
            try Self.fail("cannot ask the domain's device model which PCI slots it uses: \(failure) (pass --peer-qmp none to skip)", status: 1)
        }
        // Handle SIGINT/SIGTERM with sigwait: block them before any I/O thread exists so
        // every thread inherits the mask.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        let logger = Logger(label: "swiftdm.xen")
        let machine: IOServerMachine
        let server: XenIoreqServer
        do {
            server = try XenIoreqServer(domid: domid, hypervisor: try XenHypervisor.openLibxen(), dispatcher: IODispatcher(), logger: logger)
            machine = try IOServerMachine(server: server, devices: devices, slots: slotList, vcpuCount: server.vcpuCount, logger: logger)
            logger.info("serving domain \(domid) as ioreq server \(server.id) with \(server.vcpuCount) vCPUs: \(devices.map(\.description).joined(separator: ", "))")
        } catch {
            try Self.fail("cannot attach to domain \(domid): \(error)", status: 1)
        }
        do {
            // The domain's end wakes the sigwait below like a SIGTERM.
            try server.watchDomain { kill(getpid(), SIGTERM) }
        } catch {
            machine.stop()
            try Self.fail("cannot watch domain \(domid)'s lifetime: \(error)", status: 1)
        }
        var received: Int32 = 0
        sigwait(&signals, &received)
        machine.stop()
        if server.isDomainGone {
            logger.notice("domain \(domid) is gone; detached and exiting")
        }
    }
}
