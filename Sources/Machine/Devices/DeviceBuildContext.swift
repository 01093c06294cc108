import Display
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// What building a device may depend on besides its spec.
public struct DeviceBuildContext: Sendable {
    /// The guest's vCPU count (virtio-blk sizes its queues to it).
    public var vcpuCount: Int
    /// The device's position among the machine's devices: names it and seeds a default MAC.
    public var index: Int
    /// Where devices that log (virtio-net's negotiated features) write.
    public var logger: Logger
    /// Whether a stdio console should put the terminal into raw mode.
    public var stdinIsTerminal: Bool
    /// The machine's screens and input router: virtio-gpu draws into it, virtio-input devices
    /// attach to its router. `nil` where there is none (a display device then cannot be built).
    public var display: GuestDisplay?
    /// True when the machine is the receiving end of a migration: disk images are opened
    /// without their locks, which ``IOServerMachine/lockImages(waitingUpTo:)`` takes once the
    /// sender let go.
    public var incomingMigration = false
    /// How long a device's queues poll their avail rings after a pass when its options name
    /// no `poll-max-ns`: off in a machine, whose I/O threads share the CPUs with its vCPUs;
    /// ``backendProcessPolling`` in a vhost-user backend, a data-plane process of its own.
    public var defaultPolling: Duration = .zero

    /// QEMU's default for its event loops (`poll-max-ns` 32768, which qemu-storage-daemon's
    /// main loop uses too: it serves a queue-depth-1 load without a `ppoll`).
    public static let backendProcessPolling: Duration = .nanoseconds(32768)

    public init(vcpuCount: Int = 1, index: Int = 0, logger: Logger = Logger(label: "swiftdm.device"),
                stdinIsTerminal: Bool = isatty(STDIN_FILENO) == 1, display: GuestDisplay? = nil) {
        self.display = display
        self.vcpuCount = vcpuCount
        self.index = index
        self.logger = logger
        self.stdinIsTerminal = stdinIsTerminal
    }
}
