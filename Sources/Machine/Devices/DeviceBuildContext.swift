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

    public init(vcpuCount: Int = 1, index: Int = 0, logger: Logger = Logger(label: "swiftdm.device"),
                stdinIsTerminal: Bool = isatty(STDIN_FILENO) == 1, display: GuestDisplay? = nil) {
        self.display = display
        self.vcpuCount = vcpuCount
        self.index = index
        self.logger = logger
        self.stdinIsTerminal = stdinIsTerminal
    }
}
