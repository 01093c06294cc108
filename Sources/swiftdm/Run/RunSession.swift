import DeviceModel
import Display
import DisplayOutputs
import KVMGlue
import Machine
import QMP
import Synchronization
import X86Machine
import XenSimulation
#if canImport(Glibc)
import Glibc
#endif

/// One `swiftdm run`: a ``PCMachine`` on KVM, run to the end, its outcome turned into an exit
/// status — 0 for a guest power-off or reset, 1 with one line on stderr when a vCPU fails
/// (e.g. a triple fault), 2 for bad input or a host that cannot run the machine, 128 + N when
/// signal N stopped it.
struct RunSession {
    /// Set to a file path to capture the firmware debug port (0x402, SeaBIOS's log).
    static let debugConsoleVariable = "SWIFTDM_DEBUGCON"

    let configuration: PCConfiguration
    let exits: IoreqChoice
    /// Print the boot phases at the end (`--timings`).
    var timings = false
    /// Install ``SyscallFilter/runningMachine`` on every thread once the vCPUs run (`--seccomp`).
    var seccomp = false
    /// Serve the machine's display over VNC (`--vnc`).
    var vnc: VNCConfiguration?
    /// Write the first scanout here when the machine stops (`--screenshot-on-exit`).
    var screenshotOnExit: String?
    /// Serve QMP on these UNIX sockets (`--qmp`).
    var qmpSockets: [String] = []
    /// Continue this saved machine (`--restore`).
    var restoring: MachineSnapshot?

    /// What `--check` prints: the machine, one line per device.
    static func summary(_ c: PCConfiguration, exits: IoreqChoice) -> String {
        let boot = switch c.boot {
        case .kernel(let path, let initrd, _): "kernel \(path)\(initrd.map { " initrd \($0)" } ?? "")"
        case .firmware(let path): "firmware \(path)"
        }
        var lines = ["PC: \(boot), \(c.memory) RAM, \(c.cpus) vCPU(s), exits via \(exits.rawValue), console \(c.serialConsole ? "serial" : "virtio")"]
        for d in c.devices { lines.append("  \(d) on \(d.transport ?? c.defaultTransport)") }
        return lines.joined(separator: "\n")
    }

    static func milliseconds(_ d: Duration) -> String {
        let ms = Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15
        let tenths = Int((ms * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }

    /// Two lines: exits and device time per address space, then the busiest addresses.
    static func exitSummary(_ profile: IOExitProfile) -> String {
        let totals = profile.totals.sorted { $0.key.rawValue < $1.key.rawValue }.map { space, t in
            "\(t.count) \(space) (\(milliseconds(.nanoseconds(Int64(clamping: t.nanoseconds)))) ms in devices)"
        }
        let busiest = profile.report(top: 10).map { row in
            "\(row.site) \(row.name) ×\(row.tally.count) \(milliseconds(.nanoseconds(Int64(clamping: row.tally.nanoseconds)))) ms"
        }
        return "swiftdm run: exits: " + (totals.isEmpty ? "none" : totals.joined(separator: ", "))
            + "\nswiftdm run: busiest: " + (busiest.isEmpty ? "none" : busiest.joined(separator: ", "))
    }

    func run() -> Int32 {
        let stopRequest = StopRequest()
        let lastSignal = Atomic<Int32>(0)
        // Before any other thread exists, so that only the watcher sees these signals.
        _ = SignalWatcher { signal in
            lastSignal.store(signal, ordering: .relaxed)
            stopRequest.stop()
        }
        let teardown = TeardownWatchdog()

        let kvm: KVMAccelerator
        do {
            kvm = try KVMAccelerator()
        } catch {
            Run.fail("\(error)")
        }
        stopRequest.attach(kvm)
        if case .kernel = configuration.boot, KVMSystem.isPVMHost {
            printToStandardError(
                "swiftdm run: note: this host's KVM is PVM (/sys/module/kvm_pvm): unmodified kernels run under "
                    + "instruction emulation here (about 1 µs per guest instruction) and may not finish booting")
        }

        var debugOutput: SerialOutput?
        if let path = getenv(Self.debugConsoleVariable).map({ String(cString: $0) }), !path.isEmpty {
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                Run.fail("\(Self.debugConsoleVariable) \(path): \(String(cString: strerror(errno)))")
            }
            debugOutput = { byte in
                var b = byte
                _ = write(fd, &b, 1)
            }
        }

        let machine: PCMachine
        do {
            machine = try PCMachine(
                configuration: configuration, accelerator: kvm, debugOutput: debugOutput,
                interposer: exits == .xenSim ? { try XenSimulatedIOPath($0, machineINTxRouting: PCMachine.intxRouting) } : nil,
                profileExits: timings, restoring: restoring)
        } catch {
            Run.fail("\(error)")
        }
        if let restoring {
            printToStandardError("swiftdm run: continuing the machine saved in \(restoring.directory)")
        }

        var vncServer: VNCServer?
        if let vnc {
            // A machine without display devices still gets one, dark: a viewer connects and sees
            // why nothing shows rather than being refused.
            let server = VNCServer(display: machine.display ?? GuestDisplay(), configuration: vnc)
            do {
                try server.start()
            } catch {
                Run.fail("--vnc: \(error)")
            }
            vncServer = server
        }
        defer { vncServer?.stop() }

        // Before the vCPUs start: a client may connect as soon as the socket exists.
        var qmp: (server: QMPServer, control: PCMachineQMP)?
        if !qmpSockets.isEmpty {
            do {
                var identity = PCMachineQMP.identity
                identity.package = "swiftdm \(DeviceModelInfo.version)"
                let server = try QMPServer(identity: identity)
                var chardevs = [PCMachineQMP.CharacterDevice]()
                if configuration.serialConsole { chardevs.append(.init(label: "serial0", filename: "stdio")) }
                for (i, path) in qmpSockets.enumerated() {
                    chardevs.append(.init(label: "qmp\(i)", filename: "unix:\(path),server=on"))
                }
                let control = PCMachineQMP(machine: machine, server: server, characterDevices: chardevs)
                for path in qmpSockets { try server.listen(unixPath: path) }
                qmp = (server, control)
            } catch {
                Run.fail("--qmp: \(error)")
            }
        }
        defer { qmp?.server.close() }

        // With a virtio console, its own backend owns stdin and the terminal.
        let console: TerminalConsole? = configuration.serialConsole ? TerminalConsole() : nil
        defer { console?.restore() }
        let inputLoop: EventLoop
        do {
            inputLoop = try EventLoop(name: "console")
        } catch {
            Run.fail("\(error)")
        }
        if let console {
            let uart = machine.platform.uart
            console.forwardInput(on: inputLoop) { bytes in uart.enqueueInput(bytes) }
        }
        let outcome: MachineRunOutcome
        do throws(MachineError) {
            try machine.start()
            if seccomp {
                // After set-up, when every thread exists (threads made later inherit it).
                do throws(MachineError) { try SyscallFilter.runningMachine.install(allThreads: true) } catch {
                    machine.stop(.host)
                    _ = machine.wait()
                    console?.restore()
                    Run.fail("\(error)")
                }
            }
            outcome = machine.wait()
        } catch {
            outcome = .failed("\(error)")
        }
        console?.restore()
        inputLoop.shutdown()
        qmp?.control.runEnded(outcome)
        if let path = screenshotOnExit { writeScreenshot(of: machine, to: path) }
        if timings {
            let phases = machine.timeline.phases.map { "\($0.name) \(Self.milliseconds($0.duration)) ms" }
            printToStandardError("swiftdm run: timings: " + (phases.isEmpty ? "no phase completed" : phases.joined(separator: ", ")))
            if let profile = machine.exitProfile { printToStandardError(Self.exitSummary(profile)) }
        }

        let status: Int32
        switch outcome {
        case .stopped(.powerOff), .stopped(.reset):
            status = 0
        case .stopped(.guestExit(let code)):
            status = code
        case .stopped(.guestPanic):
            printToStandardError("swiftdm run: the guest kernel panicked (pvpanic)")
            status = 1
        case .stopped(.host) where qmp?.control.hostEnding == .quit:
            status = 0
        case .stopped(.host):
            let signal = lastSignal.load(ordering: .relaxed)
            status = 128 + (signal == 0 ? SIGTERM : signal)
        case .failed(let error):
            printToStandardError("swiftdm run: \(error)")
            status = 1
        }
        // What follows (the defers, the machine's teardown, exit) must not outlast the run.
        teardown.arm(exitStatus: status)
        return status
    }
}

extension RunSession {
    /// `--screenshot-on-exit`: the first scanout as the guest left it, or, when the guest turned
    /// it off on its way down (Linux's DRM drivers do at power-off), the last picture it showed;
    /// a screen that never had a mode is reported rather than written.
    func writeScreenshot(of machine: PCMachine, to path: String) {
        guard let (image, wasDark) = machine.display?.primary.lastShownSnapshot() else {
            printToStandardError("swiftdm run: --screenshot-on-exit \(path): the guest never set a display mode; nothing written")
            return
        }
        if wasDark { printToStandardError("swiftdm run: --screenshot-on-exit: the guest had turned the screen off; writing its last picture") }
        do {
            try Screenshot.write(image, to: path)
        } catch {
            printToStandardError("swiftdm run: --screenshot-on-exit: \(error)")
        }
    }
}

/// A stop asked for by a signal, possibly before the accelerator exists: applied when it is
/// attached (the accelerator itself keeps a stop that comes before its vCPUs start).
private final class StopRequest: Sendable {
    private let state = Mutex<(machine: (any X86Accelerator)?, pending: Bool)>((nil, false))

    func attach(_ machine: any X86Accelerator) {
        let pending = state.withLock { s in
            s.machine = machine
            return s.pending
        }
        if pending { machine.stop(.host) }
    }

    func stop() {
        let machine: (any X86Accelerator)? = state.withLock { s in
            if s.machine == nil { s.pending = true }
            return s.machine
        }
        machine?.stop(.host)
    }
}
