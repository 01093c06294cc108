import ArgumentParser
import Foundation
import Logging
import VhostUser
import VirtioDevices
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
              --blk PATH[,readonly=on][,serial=ID]   virtio-blk on a raw image file or block device
              --rng                                  virtio-rng fed from getrandom(2)
              --console [stdio|socket=PATH]          virtio-console on this process's stdio (default) or a UNIX socket
              --net tap=NAME[,mac=MAC]               virtio-net on tap NAME (attached if it exists, else created: needs CAP_NET_ADMIN)
            The backend serves one frontend at a time, survives the frontend disconnecting and \
            reconnecting, and exits with status 0, removing the socket, on SIGINT or SIGTERM.
            """)

    @Option(name: .customLong("socket"), help: ArgumentHelp("The UNIX socket to listen on (a stale one is replaced).", valueName: "PATH"))
    var socketPath: String

    @Option(name: .customLong("blk"), help: ArgumentHelp("Serve virtio-blk on PATH.", valueName: "PATH[,readonly=on][,serial=ID]"))
    var block: String?

    @Option(name: .customLong("net"), help: ArgumentHelp("Serve virtio-net on a tap interface.", valueName: "tap=NAME[,mac=MAC]"))
    var net: String?

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

    func validate() throws {
        _ = try deviceSpec()
    }

    func deviceSpec() throws -> VhostUserDeviceSpec {
        var specs: [VhostUserDeviceSpec] = []
        if let block { specs.append(try VhostUserDeviceSpec.block(block)) }
        if entropy { specs.append(.entropy) }
        if let net { specs.append(try VhostUserDeviceSpec.net(net)) }
        if console {
            specs.append(try VhostUserDeviceSpec.console(consoleEndpoint ?? "stdio"))
        } else if let consoleEndpoint {
            throw ValidationError("unexpected argument '\(consoleEndpoint)'")
        }
        guard specs.count == 1 else {
            throw ValidationError(specs.isEmpty ? "name a device: --blk PATH, --rng, --console or --net tap=NAME" : "one device per socket; got \(specs.count)")
        }
        return specs[0]
    }

    func run() throws {
        let spec = try deviceSpec()
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
        var device: (any VirtioDevice)? = try VhostUserDeviceFactory.makeDevice(spec, logger: logger)
        let backend = try VhostUserBackend(device: device!, logger: logger)
        try backend.listen(on: socketPath)
        logger.info("serving \(spec) on \(socketPath)")

        var received: Int32 = 0
        while sigwait(&set, &received) != 0 {}
        logger.info("\(received == SIGINT ? "SIGINT" : "SIGTERM"): shutting down")
        backend.shutdown()
        // Releasing the device stops its I/O threads and console backend (socket file removed).
        device = nil
        _ = device
    }
}
