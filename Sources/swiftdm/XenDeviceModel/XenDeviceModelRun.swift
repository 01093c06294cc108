import DeviceModel
import Dispatch
import Logging
import Machine
import QMP
import Synchronization
import X86Machine
import XenGlue
#if canImport(Glibc)
import Glibc
#endif

/// swiftdm as the device model libxl spawns for an HVM guest (`device_model_override`): reads
/// libxl's QEMU-style command line (``XenDeviceModelOptions``), serves QMP on the sockets it
/// names, attaches to the domain as its ioreq server with the ``HVMPlatform`` and the
/// devices, and only then reports `running` in xenstore, so the firmware never scans PCI
/// before swiftdm serves it.
///
/// Guest power-off and resets become domain shutdowns (`xendevicemodel_shutdown`) for the
/// toolstack to act on. The run ends, with status 0, on SIGTERM, SIGINT or SIGHUP (how libxl
/// and users stop a device model), QMP `quit`, or the domain's death; status 1 when attaching
/// fails, 2 for a command line it refuses.
enum XenDeviceModelRun {
    /// The QEMU version whose QMP dialect the server speaks (Debian 12's qemu-xen): libxl picks
    /// commands by it.
    static let qmpIdentity = QMPServer.Identity(major: 7, minor: 2, micro: 0, package: "swiftdm \(DeviceModelInfo.version)")

    /// Why the run ended.
    enum Ending: Sendable {
        case signal(Int32)
        case quit
        case domainGone
    }

    /// The run-status QMP reports and why the run ends; shared by the QMP thread, the I/O
    /// thread (guest power events) and the main thread.
    final class State: Sendable {
        /// QEMU's `RunState` names: `prelaunch`, `running`, `paused`, `shutdown`.
        let status: Mutex<String>
        private let ended = Mutex<Ending?>(nil)
        private let wake = DispatchSemaphore(value: 0)

        /// The machine, once built (QMP commands that reach the devices need it).
        let machine = Mutex<MachineReference?>(nil)
        /// The domain's vCPUs, once attached.
        let vcpuCount = Mutex(0)

        init(status: String) { self.status = Mutex(status) }

        /// Ends the run for `reason` (the first reason wins).
        func finish(_ reason: Ending) {
            let first = ended.withLock { e in
                if e != nil { return false }
                e = reason
                return true
            }
            if first { wake.signal() }
        }

        /// Waits until ``finish(_:)``; returns the reason.
        func wait() -> Ending {
            wake.wait()
            return ended.withLock { $0 } ?? .quit
        }
    }

    /// The served machine, handed to the QMP thread. IOServerMachine's methods are safe from
    /// any thread (its devices and bus lock internally); the reference itself never changes.
    final class MachineReference: @unchecked Sendable {
        let machine: IOServerMachine
        init(_ machine: IOServerMachine) { self.machine = machine }
    }

    /// Reads the saved device state from `fd` (libxl's `-incoming fd:N`), then closes it.
    static func readIncoming(fd: Int32) throws(XenDeviceModelOptions.Refusal) -> DeviceStateArchive {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw .init("-incoming fd:\(fd): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            bytes += chunk[0..<n]
            guard bytes.count <= 64 << 20 else { throw .init("-incoming fd:\(fd): more than 64 MiB of device state") }
        }
        close(fd)
        do {
            return try DeviceStateArchive(decoding: bytes)
        } catch {
            throw .init("-incoming fd:\(fd): \(error)")
        }
    }

    static func main(_ arguments: [String]) -> Never {
        let state = State(status: arguments.contains("-S") ? "prelaunch" : "running")
        let finish: @Sendable (Ending) -> Void = { state.finish($0) }
        // Before any other thread exists (see SignalWatcher).
        _ = SignalWatcher { finish(.signal($0)) }

        let options: XenDeviceModelOptions
        do {
            options = try XenDeviceModelOptions(parsing: arguments)
            for (i, d) in options.devices.enumerated() { try HostFiles.check(d, option: "device \(i)") }
        } catch {
            printToStandardError("swiftdm: \(error)")
            exit(2)
        }
        let domid = options.domid
        var incoming: DeviceStateArchive?
        if let fd = options.incomingFD {
            do { incoming = try readIncoming(fd: fd) } catch {
                printToStandardError("swiftdm: \(error)")
                exit(2)
            }
        }
        let logger = Logger(label: "swiftdm.xen-dm")
        for note in options.notes { printToStandardError("swiftdm: note: \(note)") }

        let serial: SerialFile?
        switch options.serial {
        case .file(let path):
            do { serial = try SerialFile(path: path) } catch {
                printToStandardError("swiftdm: \(error)")
                exit(2)
            }
        case .standardOutput, nil:
            serial = nil
        }
        let serialOutput: SerialOutput? = switch options.serial {
        case .file: { [serial] byte in serial?.write(byte) }
        case .standardOutput: TerminalConsole.write
        case nil: nil
        }

        // QMP first: libxl connects as soon as it reads `running`.
        let qmp: QMPServer
        do {
            qmp = try QMPServer(identity: qmpIdentity)
            registerCommands(on: qmp, state: state, options: options)
            for path in options.qmpSockets { try qmp.listen(unixPath: path) }
        } catch {
            printToStandardError("swiftdm: \(error)")
            exit(1)
        }

        let server: XenIoreqServer
        let machine: IOServerMachine
        do {
            server = try XenIoreqServer(domid: domid, hypervisor: try XenHypervisor.openLibxen(), dispatcher: IODispatcher(),
                                    announcesReadiness: true, logger: logger)
            let control = server.hypervisor.control
            let platform = HVMPlatform.Configuration(
                serialOutput: serialOutput,
                events: { event in
                    let reason: XenShutdownReason = switch event {
                    case .powerOff: .powerOff
                    case .reset: .reboot
                    case .guestPanic: .crash
                    }
                    printToStandardError("swiftdm: domain \(domid): guest asked for \(event); asking Xen to shut the domain down (\(reason))")
                    state.status.withLock { $0 = "shutdown" }
                    qmp.emit(reason == .reboot ? "RESET" : "SHUTDOWN", data: ["guest": true, "reason": reason == .reboot ? "guest-reset" : "guest-shutdown"])
                    do { try control.shutdown(domid: domid, reason: reason) } catch {
                        printToStandardError("swiftdm: domain \(domid): \(error)")
                    }
                },
                linkRouteChanged: { link, irq in
                    do { try control.setPCILinkRoute(domid: domid, link: link, irq: irq) } catch {
                        logger.warning("PCI link \(link) → IRQ \(irq): \(error)")
                    }
                })
            machine = try IOServerMachine(server: server, devices: options.devices, vcpuCount: server.vcpuCount, platform: platform,
                                          restoring: incoming, logger: logger)
            state.machine.withLock { $0 = MachineReference(machine) }
            state.vcpuCount.withLock { $0 = server.vcpuCount }
            do {
                try server.watchDomain { state.finish(.domainGone) }
            } catch {
                machine.stop()
                throw error
            }
        } catch {
            printToStandardError("swiftdm: cannot serve domain \(domid): \(error)")
            qmp.close()
            exit(1)
        }
        let placed = machine.attachments.map { a in "\(a.name)\(a.pciAddress.map { " at \($0)" } ?? "")" }
        printToStandardError("swiftdm: serving domain \(domid)\(options.name.map { " (\($0))" } ?? "") as its device model, ioreq server \(server.id), \(server.vcpuCount) vCPU(s): "
            + (["i440FX host bridge at 00:00.0", "PIIX3 at 00:01.0"] + (serialOutput == nil ? [] : ["COM1"]) + placed).joined(separator: ", "))

        let ending = state.wait()
        machine.stop()
        qmp.close()
        let s = server.statistics
        let why = switch ending {
        case .signal(let n): "signal \(n)"
        case .quit: "QMP quit"
        case .domainGone: "domain gone"
        }
        printToStandardError("swiftdm: domain \(domid): stopped (\(why)); ioreqs served: \(s.portIO) port I/O, \(s.memory) MMIO, \(s.pciConfig) PCI config, \(s.buffered) buffered, \(s.invalidate) invalidate, \(s.timeOffset) time offset; \(s.faults) faults; exiting with status 0")
        exit(0)
    }

    static func registerCommands(on qmp: QMPServer, state: State, options: XenDeviceModelOptions) {
        qmp.register("query-status") { _ in
            let s = state.status.withLock { $0 }
            return ["status": .string(s), "singlestep": false, "running": .bool(s == "running")]
        }
        qmp.register("cont") { [qmp] _ throws(QMPError) in
            // The images' locks: a restored machine (xl restore, xl migrate) opened its images
            // without them, and a machine whose state was saved let go of them (the receiving
            // swiftdm of a migration on this host takes them, or this one again if it resumes).
            if let machine = state.machine.withLock({ $0 })?.machine {
                do {
                    try machine.lockImages(waitingUpTo: .seconds(15))
                } catch {
                    throw QMPError(.genericError, "\(error)")
                }
            }
            let was = state.status.withLock { s in
                let old = s
                if s != "shutdown" { s = "running" }
                return old
            }
            if was != "running" && was != "shutdown" { qmp.emit("RESUME") }
            // After `xl save -c` (a checkpoint) the same process continues.
            state.machine.withLock { $0 }?.machine.resumeDevices()
            return [:]
        }
        qmp.register("stop") { [qmp] _ in
            let was = state.status.withLock { s in
                let old = s
                if s == "running" { s = "paused" }
                return old
            }
            if was == "running" { qmp.emit("STOP") }
            return [:]
        }
        // `xl save` (libxl__qmp_suspend_save): the domain is suspended, then `stop`, then this.
        qmp.register("xen-save-devices-state") { [qmp] args throws(QMPError) in
            guard let path = args["filename"]?.stringValue else { throw .badArgument("filename", expected: "a string") }
            guard let machine = state.machine.withLock({ $0 })?.machine else { throw QMPError(.genericError, "the machine is not built yet") }
            let archive: DeviceStateArchive
            do {
                archive = try machine.saveDeviceState()
            } catch {
                throw QMPError(.genericError, "\(error)")
            }
            let bytes = archive.encoded()
            // libxl passes its save file with `add-fd` and names it /dev/fdset/N.
            let fd: Int32
            if let passed = qmp.descriptor(forPath: path) {
                fd = passed
            } else if path.hasPrefix("/dev/fdset/") {
                throw QMPError(.genericError, "\(path): no such fd set (pass the descriptor with add-fd first)")
            } else {
                fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
                guard fd >= 0 else { throw QMPError(.genericError, "\(path): \(String(cString: strerror(errno)))") }
            }
            defer { close(fd) }
            var written = 0
            while written < bytes.count {
                let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw QMPError(.genericError, "\(path): \(String(cString: strerror(errno)))") }
                written += n
            }
            // A pipe or socket cannot be synced; a file must be.
            guard fsync(fd) == 0 || errno == EINVAL else { throw QMPError(.genericError, "\(path): fsync: \(String(cString: strerror(errno)))") }
            printToStandardError("swiftdm: device state saved to \(path) (\(bytes.count) bytes, \(archive.records.count) records)")
            // Stopped with its state handed over: a migration's receiving swiftdm on this host
            // takes the images' locks at its `cont` (QEMU inactivates its images likewise).
            machine.unlockImages()
            return [:]
        }
        // Live migration's dirty tracking: swiftdm reports every frame it writes
        // (`xendevicemodel_modified_memory`) whether or not the log is on.
        qmp.register("xen-set-global-dirty-log") { args throws(QMPError) in
            guard args["enable"]?.boolValue != nil else { throw .badArgument("enable", expected: "a boolean") }
            return [:]
        }
        qmp.register("quit") { _ in
            state.finish(.quit)
            return [:]
        }
        // libxl reads which vCPUs are online from it (`xl save`, `xl vcpu-list` of a saved config).
        qmp.register("query-cpus-fast") { _ in
            let n = state.vcpuCount.withLock { $0 }
            return .array((0..<n).map { i in
                ["cpu-index": .integer(Int64(i)), "qom-path": .string("/machine/unattached/device[\(i)]"), "thread-id": .integer(0),
                 "props": ["core-id": 0, "thread-id": 0, "node-id": 0, "socket-id": .integer(Int64(i))], "target": "x86_64"]
            })
        }
        qmp.register("query-name") { _ in options.name.map { ["name": .string($0)] } ?? [:] }
        qmp.register("query-chardev") { _ in
            var list: [JSONValue] = options.qmpSockets.enumerated().map { i, p in
                ["label": .string("qmp\(i)"), "filename": .string("unix:\(p),server=on"), "frontend-open": true]
            }
            if case .file(let path) = options.serial {
                list.append(["label": "serial0", "filename": .string("file:\(path)"), "frontend-open": true])
            }
            return .array(list)
        }
    }
}
