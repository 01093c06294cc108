/// An I/O path put between a machine's vCPUs and its devices, replacing the accelerator's
/// direct one: every exit is handed to it (``IORequestSink``) and devices use its memory,
/// interrupts and ioeventfds (``MachineBackend``). The Xen simulation is one: it turns each
/// exit into an ioreq and serves it through XenGlue's ioreq server.
public protocol InterposedIOPath: MachineBackend, IORequestSink {}

/// What an ``InterposedIOPath`` is built from.
public struct InterposedIOPathContext: Sendable {
    /// The machine's RAM (a memfd, so the path may map it a second time).
    public let ram: SharedGuestRAM
    /// Where requests end up.
    public let dispatcher: IODispatcher
    /// The accelerator's own paths: interrupts the interposed path raises are delivered there.
    public let direct: any MachineBackend
    public let vcpuCount: Int

    public init(ram: SharedGuestRAM, dispatcher: IODispatcher, direct: any MachineBackend, vcpuCount: Int) {
        self.ram = ram
        self.dispatcher = dispatcher
        self.direct = direct
        self.vcpuCount = vcpuCount
    }
}
