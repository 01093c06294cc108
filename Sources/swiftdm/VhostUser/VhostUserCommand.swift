import ArgumentParser
import DeviceModel
import Display
import DisplayOutputs
import Logging
import Machine
import VhostUser
import Virtio
#if canImport(Glibc)
import Glibc
#endif

/// `swiftdm vhost-user`: serves one virtio device to vhost-user frontends on a UNIX socket.
struct VhostUserCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vhost-user",
        abstract: "Serve a virtio device to a vhost-user frontend (QEMU, Cloud Hypervisor, crosvm, user-mode Linux).",
        discussion: """
            Exactly one device per socket:
              --blk PATH[,readonly=on][,serial=ID][,aio=io_uring|threads|inline][,cache=writeback|none][,poll-max-ns=N][,num-queues=N][,iothreads=N]
                                                     virtio-blk on a raw image file or block device
                                                     (poll-max-ns: 65536 unless given; adaptive, as QEMU's event loops)
              --rng                                  virtio-rng fed from getrandom(2)
              --console [stdio|socket=PATH]          virtio-console on this process's stdio (default) or a UNIX socket
              --net tap=NAME[,mac=MAC][,queues=N]    virtio-net on tap NAME (attached if it exists, else created: needs CAP_NET_ADMIN); queues=N: N queue pairs on a multi-queue tap
              --input keyboard|tablet|mouse          virtio-input (QEMU's vhost-user-input-pci), fed by --vnc's clients
              --device NAME[,key=value…]             any device kind: virtio-blk,file=PATH,…  virtio-net,tap=NAME,…  virtio-rng  virtio-console,socket=PATH
            Device options are spelled as for `swiftdm run` and `swiftdm xen` (QEMU-style: readonly=on|off, ',,' for a comma in a path).
            The backend serves one frontend at a time, survives the frontend disconnecting and \
            reconnecting, and exits with status 0, removing the socket, on SIGINT or SIGTERM.
            """)

    @Option(name: .customLong("socket"), help: ArgumentHelp("The UNIX socket to listen on (a stale one is replaced).", valueName: "PATH"))
    var socketPath: String

    @Option(name: .customLong("blk"), help: ArgumentHelp("Serve virtio-blk on PATH.", valueName: "PATH[,readonly=on][,serial=ID][,aio=io_uring|threads|inline][,cache=writeback|none][,poll-max-ns=N][,num-queues=N][,iothreads=N]"))
    var block: String?

    @Option(name: .customLong("net"), help: ArgumentHelp("Serve virtio-net on a tap interface.", valueName: "tap=NAME[,mac=MAC][,queues=N]"))
    var net: String?

    @Option(name: .customLong("input"), help: ArgumentHelp("Serve virtio-input; its events come from --vnc's clients.", valueName: "keyboard|tablet|mouse"))
    var input: String?

    @Option(help: ArgumentHelp(
        "With --input: a VNC server (RFB 3.8) whose clients' keys and pointer reach the device (its screen stays dark).",
        valueName: "unix=PATH|[HOST]:N"))
    var vnc: String?

    @Option(name: .customLong("vnc-password-file"), help: ArgumentHelp("Require VNC authentication with this file's first line.", valueName: "path"))
    var vncPasswordFile: String?

    @Flag(name: .customLong("rng"), help: "Serve virtio-rng.")
    var entropy = false

    // `--console` takes an optional value, which ArgumentParser options cannot express: the
    // flag and a positional argument together give `--console`, `--console stdio` and
    // `--console socket=PATH` their documented meaning.
    @Flag(name: .customLong("console"), help: "Serve virtio-console on stdio (default) or on socket=PATH.")
    var console = false

    @Argument(help: ArgumentHelp("The --console endpoint.", valueName: "stdio|socket=PATH"))
    var consoleEndpoint: String?

    @Flag(name: .shortAndLong, help: "Log every vhost-user message.")
    var verbose = false

    @Option(name: .customLong("device"), help: ArgumentHelp(
        "Serve any device of the catalogue: virtio-blk,file=PATH,…, virtio-net,tap=NAME,…, virtio-rng, virtio-console,….",
        valueName: "NAME[,key=value…]"))
    var device: String?

    @Flag(name: .customLong("check"), help: "Check the command line and the device's files, print the device, and exit.")
    var check = false

    /// Seconds from SIGINT/SIGTERM until the process exits even if a device is still busy.
    static let shutdownDeadline = 1.5

    func validate() throws {
        _ = try checkedDevice()
    }

    /// The one device this backend serves, parsed by the machine library's catalogue (the same
    /// parser `swiftdm run` and `swiftdm xen` use).
    func checkedDevice() throws -> (option: String, spec: VirtioDeviceSpec) {
        var specs: [(option: String, spec: VirtioDeviceSpec)] = []
        do {
            if let block { specs.append(("--blk", try .block(parsing: block, option: "--blk"))) }
            if entropy { specs.append(("--rng", .entropy(EntropyDeviceSpec()))) }
            if let net { specs.append(("--net", try .net(parsing: net, option: "--net"))) }
            if let input { specs.append(("--input", try .input(parsing: input, option: "--input"))) }
            if console {
                specs.append(("--console", try .console(parsing: consoleEndpoint ?? "stdio", option: "--console")))
            } else if let consoleEndpoint {
                throw ValidationError("unexpected argument '\(consoleEndpoint)'")
            }
            if let device { specs.append(("--device", try .device(parsing: device))) }
        } catch let error as DeviceSpecError {
            throw ValidationError(error.description)
        }
        guard specs.count == 1 else {
            throw ValidationError(specs.isEmpty ? "name a device: --blk PATH, --rng, --console, --net tap=NAME or --device NAME,…" : "one device per socket; got \(specs.count)")
        }
        guard !socketPath.isEmpty else { throw ValidationError("--socket needs a path") }
        if case .gpu = specs[0].spec {
            // QEMU's vhost-user-gpu-pci needs the vhost-user-gpu display protocol (scanouts and
            // updates sent back over a second socket), which this backend does not speak.
            throw ValidationError("virtio-gpu is served by swiftdm run --gpu, not over vhost-user (no vhost-user-gpu display protocol)")
        }
        if vnc != nil || vncPasswordFile != nil {
            guard case .input = specs[0].spec else { throw ValidationError("--vnc feeds an input device: give --input KIND") }
        }
        return specs[0]
    }

    func run() throws {
        let (option, spec) = try checkedDevice()
        // Signals are taken synchronously by this thread (sigwait), so every thread created
        // from here on inherits them blocked. A frontend vanishing must not kill us via SIGPIPE.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        signal(SIGPIPE, SIG_IGN)

        // Log to stderr: stdout may be the guest's console (`--console stdio`).
        var logger = Logger(label: "swiftdm.vhost-user") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = verbose ? .trace : .info
        try HostFiles.check(spec, option: option)
        if check {
            print(spec)
            return
        }
        // An input device is fed through a display's router, whose only output here is VNC.
        var display: GuestDisplay?
        var vncServer: VNCServer?
        if case .input = spec { display = GuestDisplay() }
        if let vnc, let display {
            let server = VNCServer(display: display, configuration: try VNCOption.configuration(vnc, passwordFile: vncPasswordFile), logger: logger)
            try server.start()
            vncServer = server
        }
        defer { vncServer?.stop() }
        var backendContext = DeviceBuildContext(logger: logger, display: display)
        // A backend process polls its rings like qemu-storage-daemon's event loop does.
        backendContext.defaultPolling = DeviceBuildContext.backendProcessPolling
        let served = try DeviceCatalogue.makeDevice(spec, context: backendContext)
        var device: (any VirtioDevice)? = served
        let backend = try VhostUserBackend(device: served, logger: logger)
        try backend.listen(on: socketPath)
        logger.info("serving \(spec) on \(socketPath)")

        var received: Int32 = 0
        while sigwait(&set, &received) != 0 {}
        logger.info("\(received == SIGINT ? "SIGINT" : "SIGTERM"): shutting down")
        // Whatever the frontend did, the process ends promptly: shutdown cuts the frontend's
        // socket first, and should a device still be finishing requests past the deadline,
        // the watchdog removes the socket path and exits anyway.
        let socketPath = self.socketPath
        let watchdogLogger = logger
        let watchdog = try? EventLoop(name: "shutdown-watchdog")
        watchdog?.schedule(after: .milliseconds(Int(Self.shutdownDeadline * 1000))) {
            watchdogLogger.warning("shutdown did not finish within \(Self.shutdownDeadline) s; exiting")
            _ = unlink(socketPath)
            _exit(0)
        }
        backend.shutdown()
        // Releasing the device stops its I/O threads and console backend (socket file removed).
        device = nil
        _ = device
        withExtendedLifetime(watchdog) {}
    }
}
