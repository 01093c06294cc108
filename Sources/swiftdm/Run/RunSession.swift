import DeviceModel
import Synchronization
import KVMGlue
import X86Machine
#if canImport(Glibc)
import Glibc
#endif

/// One `swiftdm run`: opens KVM, builds the machine, runs it to the end, and turns the outcome
/// into an exit status — 0 for a guest power-off or reset, 1 with one line on stderr when a vCPU
/// fails (e.g. a triple fault), 2 for bad input or a host that cannot run the machine, 128 + N
/// when signal N stopped it.
struct RunSession {
    /// Set to a file path to capture the firmware debug port (0x402, SeaBIOS's log).
    static let debugConsoleVariable = "SWIFTDM_DEBUGCON"

    let configuration: RunConfiguration

    func run() -> Int32 {
        let stop = StopSwitch()
        let lastSignal = SignalBox()
        // Before any other thread exists, so that only the watcher sees these signals.
        _ = SignalWatcher { signal in
            lastSignal.set(signal)
            stop.stop(.host)
        }

        let kvm: KVMSystem
        do {
            kvm = try KVMSystem()
        } catch {
            Run.fail(.setupFailed("\(error)"))
        }
        if case .kernel = configuration.boot, KVMSystem.isPVMHost {
            printToStandardError(
                "swiftdm run: note: this host's KVM is PVM (/sys/module/kvm_pvm): unmodified kernels run under "
                    + "instruction emulation here (about 1 µs per guest instruction) and may not finish booting")
        }

        var debugOutput: SerialOutput?
        if let path = getenv(Self.debugConsoleVariable).map({ String(cString: $0) }), !path.isEmpty {
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                Run.fail(.fileUnusable(option: Self.debugConsoleVariable, path: path, reason: String(cString: strerror(errno))))
            }
            debugOutput = { byte in
                var b = byte
                _ = write(fd, &b, 1)
            }
        }

        let machine: KVMMachine
        do {
            machine = try KVMMachine(
                configuration: configuration, kvm: kvm, serialOutput: HostConsole.write, debugOutput: debugOutput,
                events: { event in
                    switch event {
                    case .powerOff: stop.stop(.powerOff)
                    case .reset: stop.stop(.reset)
                    }
                })
        } catch {
            Run.fail(error)
        }

        // With a virtio console, its own backend owns stdin and the terminal.
        let console: HostConsole? = configuration.console == .serial ? HostConsole() : nil
        defer { console?.restore() }
        let inputLoop: EventLoop
        let runner: VCPURunner
        do {
            inputLoop = try EventLoop(name: "console")
            runner = try VCPURunner(vcpus: machine.vcpus, sink: machine.io.sink)
        } catch {
            Run.fail(.setupFailed("\(error)"))
        }
        if let console {
            let uart = machine.platform.uart
            console.forwardInput(on: inputLoop) { bytes in uart.enqueueInput(bytes) }
        }
        stop.attach(runner)
        do {
            try runner.start()
        } catch {
            Run.fail(.setupFailed("\(error)"))
        }
        let result = runner.wait() ?? .stopped(.host)
        console?.restore()
        inputLoop.shutdown()
        withExtendedLifetime(machine) {}

        switch result {
        case .stopped(.powerOff), .stopped(.reset):
            return 0
        case .stopped(.guestExit(let status)):
            return status
        case .stopped(.host):
            return 128 + (lastSignal.get() ?? SIGTERM)
        case .failed(let error):
            printToStandardError("swiftdm run: \(error)")
            return 1
        }
    }
}

/// The last signal that stopped the run.
private final class SignalBox: Sendable {
    private let value = Atomic<Int32>(0)
    func set(_ s: Int32) { value.store(s, ordering: .relaxed) }
    func get() -> Int32? {
        let v = value.load(ordering: .relaxed)
        return v == 0 ? nil : v
    }
}
