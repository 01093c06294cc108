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

    /// 65536 ns: room for the window to grow past the gap a sleeping round trip leaves.
    /// The window grows only on kicks that came within the limit; where waking a thread costs
    /// about 40 µs (these 2-vCPU microVMs), the gap after a completion is longer than QEMU's
    /// 32768 ns whenever nobody polls, so with that limit a queue-depth-1 load stayed unpolled
    /// in some runs (p50 ≈ 50 µs) and polled in others (≈ 15 µs). With 64 µs it settles at
    /// 15 µs in every run. Cloud Hypervisor's vhost-user-blk polls 50 µs for the same reason;
    /// a queue whose kicks come further apart shrinks the window to nothing as before.
    public static let backendProcessPolling: Duration = .nanoseconds(65536)

    public init(vcpuCount: Int = 1, index: Int = 0, logger: Logger = Logger(label: "swiftdm.device"),
                stdinIsTerminal: Bool = isatty(STDIN_FILENO) == 1, display: GuestDisplay? = nil) {
        self.display = display
        self.vcpuCount = vcpuCount
        self.index = index
        self.logger = logger
        self.stdinIsTerminal = stdinIsTerminal
    }
}
