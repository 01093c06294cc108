import DeviceModel
import Display
import DisplayOutputs
import QMP
import Synchronization
import X86Machine

/// A ``PCMachine``'s QMP commands and events, registered on a ``QMP/QMPServer``: the control
/// plane any embedder of the machine gets (`swiftdm run --qmp` is one).
///
/// Commands use QEMU's names, arguments and reply fields (`qapi/run-state.json`,
/// `block-core.json`, `pci.json`, `char.json`, `ui.json`): `query-status`, `stop`, `cont`,
/// `system_reset`, `system_powerdown`, `quit`, `query-block`, `query-blockstats`,
/// `block_resize`, `query-pci`, `query-chardev`, `screendump` (plus the server's own
/// `query-version` and `query-commands`). Events: `STOP`, `RESUME`, `RESET`, `POWERDOWN`,
/// `SHUTDOWN`, `BLOCK_IO_ERROR`.
///
/// `system_reset` resets the machine in place, as QEMU does (``PCMachine/systemReset()``), and
/// announces it with `RESET` (reason `host-qmp-system-reset`); a paused machine stays paused.
/// On an accelerator that cannot reset its processors in place it ends the run instead, as
/// QEMU with `-no-reboot` would, announced with `SHUTDOWN`. A reset the guest asks for ends the
/// run (`SHUTDOWN`, reason `guest-reset`); the run's owner decides what follows.
///
/// Handlers run on the server's thread; ``runEnded(_:)`` is called by the run's owner.
public final class PCMachineQMP: @unchecked Sendable {
    // SAFETY (@unchecked): `machine` is used only through members that are safe from any
    // thread (pause/resume, the power button, `stop`, device lists fixed at build time, the
    // PCI bus and display, which lock themselves); mutable state sits in `state`.

    /// QEMU's `RunState` values this machine goes through.
    public enum RunState: String, Sendable {
        case running, paused, shutdown
    }

    /// Why the run ended, when a command ended it.
    public enum HostEnding: Sendable, Hashable {
        /// `quit`: the process should exit with status 0.
        case quit
        /// `system_reset` on a machine that cannot reset in place: ended as a guest reset ends it.
        case systemReset
    }

    /// A character device `query-chardev` lists (label and QEMU-style filename).
    public struct CharacterDevice: Sendable {
        public var label: String
        public var filename: String
        public init(label: String, filename: String) {
            self.label = label
            self.filename = filename
        }
    }

    /// The QEMU version whose QMP dialect the commands follow: tools choose commands by it.
    public static let identity = QMPServer.Identity(major: 7, minor: 2, micro: 0, package: "swiftdm")

    public let machine: PCMachine
    public let server: QMPServer
    private let characterDevices: [CharacterDevice]
    private let state = Mutex<(run: RunState, ending: HostEnding?, announced: Bool, migration: JSONValue)>((.running, nil, false, [:]))

    /// Registers the machine's commands on `server` and reports block failures as
    /// `BLOCK_IO_ERROR`. Call once the machine is built, before clients connect; the machine is
    /// taken to be running (its vCPUs are started right after).
    ///
    /// - Parameter characterDevices: what `query-chardev` lists (the serial console, the QMP
    ///   sockets: the embedder knows where they go).
    public init(machine: PCMachine, server: QMPServer, characterDevices: [CharacterDevice] = []) {
        self.machine = machine
        self.server = server
        self.characterDevices = characterDevices
        registerRunCommands()
        registerBlockCommands()
        registerInventoryCommands()
        for entry in machine.blockDevices {
            let name = entry.name
            entry.device.statistics.onFailure { [server] failure in
                server.emit("BLOCK_IO_ERROR", data: [
                    "device": .string(name), "node-name": .string(Self.nodeName(name)),
                    "operation": .string(failure.operation == .read ? "read" : "write"),
                    "action": "report", "reason": .string(failure.reason),
                ])
            }
        }
    }

    /// The run state now.
    public var runState: RunState { state.withLock { $0.run } }

    /// The command that ended the run, if one did.
    public var hostEnding: HostEnding? { state.withLock { $0.ending } }

    /// The run is over: records `shutdown` and sends `SHUTDOWN` with QEMU's reason for
    /// `outcome`, unless a command already announced it. Call before closing the server.
    public func runEnded(_ outcome: MachineRunOutcome) {
        let announce = state.withLock { s in
            s.run = .shutdown
            defer { s.announced = true }
            return !s.announced
        }
        guard announce else { return }
        let (guest, reason): (Bool, String)
        switch outcome {
        case .stopped(.powerOff): (guest, reason) = (true, "guest-shutdown")
        case .stopped(.reset): (guest, reason) = (true, "guest-reset")
        case .stopped(.guestPanic): (guest, reason) = (true, "guest-panic")
        case .stopped(.guestExit): (guest, reason) = (true, "guest-shutdown")
        case .stopped(.host): (guest, reason) = (false, "host-signal")
        case .failed: (guest, reason) = (false, "host-error")
        }
        server.emit("SHUTDOWN", data: ["guest": .bool(guest), "reason": .string(reason)])
    }

    static func nodeName(_ device: String) -> String { "\(device)-file" }

    /// An argument of `arguments` that must be a string.
    static func string(_ arguments: JSONValue, _ name: String) throws(QMPError) -> String? {
        guard let value = arguments[name] else { return nil }
        guard let s = value.stringValue else { throw .badArgument(name, expected: "a string") }
        return s
    }

    // MARK: Run control (qapi/run-state.json, qapi/misc.json)

    private func registerRunCommands() {
        server.register("query-status") { [self] _ in
            let run = runState
            return ["status": .string(run.rawValue), "singlestep": false, "running": .bool(run == .running)]
        }
        server.register("stop") { [self] _ throws(QMPError) in
            guard runState == .running else { return [:] }
            do { try machine.pause() } catch { throw QMPError(.genericError, "\(error)") }
            let changed = state.withLock { s in
                guard s.run == .running else { return false }
                s.run = .paused
                return true
            }
            if changed { server.emit("STOP") }
            return [:]
        }
        server.register("cont") { [self] _ throws(QMPError) in
            switch runState {
            case .running: return [:]
            case .shutdown: throw QMPError(.genericError, "Resetting the Virtual Machine is required")
            case .paused: break
            }
            do { try machine.resume() } catch { throw QMPError(.genericError, "\(error)") }
            let changed = state.withLock { s in
                guard s.run == .paused else { return false }
                s.run = .running
                return true
            }
            if changed { server.emit("RESUME") }
            return [:]
        }
        server.register("system_powerdown") { [self] _ in
            machine.pressPowerButton()
            server.emit("POWERDOWN")
            return [:]
        }
        server.register("system_reset") { [self] _ throws(QMPError) in
            guard runState != .shutdown else { throw QMPError(.genericError, "the machine's run has ended") }
            guard machine.canResetInPlace else {
                end(.systemReset, reason: "host-qmp-system-reset", stop: .reset)
                return [:]
            }
            do { try machine.systemReset() } catch { throw QMPError(.genericError, "\(error)") }
            server.emit("RESET", data: ["guest": false, "reason": "host-qmp-system-reset"])
            return [:]
        }
        server.register("quit") { [self] _ in
            end(.quit, reason: "host-qmp-quit", stop: .host)
            return [:]
        }
        // Snapshots: QEMU's migration to a file (`migrate` with a `file:` URI, QEMU 8.2+),
        // except that the destination is a directory (state and sparse RAM) and the machine
        // must be stopped first, as Firecracker's snapshot API requires a paused VM.
        // `swiftdm run --restore DIR` continues it.
        server.register("migrate") { [self] arguments throws(QMPError) in
            guard let uri = try Self.string(arguments, "uri") else { throw QMPError(.genericError, "Parameter 'uri' is missing") }
            guard uri.hasPrefix("file:"), uri.count > 5 else {
                throw QMPError(.genericError, "swiftdm migrates only to file:DIR (a snapshot directory), not '\(uri)'")
            }
            guard runState == .paused else {
                throw QMPError(.genericError, "stop the machine first: a snapshot is taken of paused vCPUs (status is \(runState.rawValue))")
            }
            let directory = String(uri.dropFirst(5))
            state.withLock { $0.migration = ["status": "active"] }
            do {
                let report = try machine.saveSnapshot(to: directory)
                let ms = Double(report.duration.components.seconds) * 1000 + Double(report.duration.components.attoseconds) / 1e15
                state.withLock {
                    $0.migration = ["status": "completed", "total-time": .integer(Int64(ms)),
                                    "ram": ["transferred": .count(report.ramBytesWritten), "total": .count(machine.configuration.memory.bytes)],
                                    "x-swiftdm-state-bytes": .count(report.stateBytes)]
                }
            } catch {
                state.withLock { $0.migration = ["status": "failed", "error-desc": .string("\(error)")] }
                throw QMPError(.genericError, "\(error)")
            }
            return [:]
        }
        server.register("query-migrate") { [self] _ in state.withLock { $0.migration } }
    }

    /// Ends the run for a command: `SHUTDOWN` (guest false), then the machine stops.
    private func end(_ ending: HostEnding, reason: String, stop: MachineStopReason) {
        let first = state.withLock { s in
            guard s.ending == nil, !s.announced else { return false }
            s.ending = ending
            s.announced = true
            return true
        }
        guard first else { return }
        server.emit("SHUTDOWN", data: ["guest": false, "reason": .string(reason)])
        machine.stop(stop)
        // Paused vCPUs leave their gate when the run ends (the stop releases it).
    }

    // MARK: Inventory (qapi/char.json, qapi/ui.json)

    private func registerInventoryCommands() {
        server.register("query-chardev") { [characterDevices] _ in
            .array(characterDevices.map { ["label": .string($0.label), "filename": .string($0.filename), "frontend-open": true] })
        }
        server.register("query-pci") { [self] _ in queryPCI() }
        server.register("screendump") { [self] arguments throws(QMPError) in
            guard let filename = try Self.string(arguments, "filename") else {
                throw QMPError(.genericError, "Parameter 'filename' is missing")
            }
            var format = Screenshot.Format.ppm
            if let name = try Self.string(arguments, "format") {
                guard let f = Screenshot.Format(rawValue: name) else {
                    throw QMPError(.genericError, "Parameter 'format' does not accept value '\(name)'")
                }
                format = f
            }
            let head = Int(arguments["head"]?.integerValue ?? 0)
            guard let display = machine.display else {
                throw QMPError(.genericError, "There is no console to take a screendump from")
            }
            guard (0..<display.surfaces.count).contains(head) else {
                throw QMPError(.genericError, "There is no head \(head) (the display has \(display.surfaces.count))")
            }
            guard let image = display.surfaces[head].snapshot() else {
                throw QMPError(.genericError, "The guest has not turned on a display mode on head \(head)")
            }
            do {
                try Screenshot.write(image, to: filename, as: format)
            } catch {
                throw QMPError(.genericError, "\(error)")
            }
            return [:]
        }
    }
}
