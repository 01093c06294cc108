import DeviceModel

/// What runs an x86 machine's processors and holds its memory map — the hypervisor side of a
/// PC (QEMU calls it an accelerator). KVM is one.
///
/// The machine (``PCMachine`` in the `Machine` library) decides everything x86: the memory
/// layout, the firmware's placement, the boot CPU state, the platform devices. The
/// accelerator only carries those decisions out, and hands every vCPU exit back as an
/// ``IORequest``.
public protocol X86Accelerator: AnyObject, Sendable {
    /// Guest-physical ranges the accelerator keeps for itself (KVM's TSS and identity-map
    /// pages on Intel), which the firmware's and the kernel's memory maps must reserve.
    var reservedRanges: [AddressRange] { get }
    /// Makes `ram` the VM's RAM, each region at its guest-physical base.
    func mapRAM(_ ram: MappedGuestMemory) throws
    /// Maps `image` read-only at ``FirmwareImage/highRange`` (ending at 4 GiB); the legacy
    /// copy below 1 MiB is the machine's to write into RAM.
    func mapFirmware(_ image: FirmwareImage) throws
    /// The accelerator's own I/O paths for devices: its interrupt controller, MSI routes and
    /// ioeventfds, with PCI INTx lines named by `pciINTxRouting`. Exits that no ioeventfd
    /// takes go to `dispatcher`.
    func directBackend(ram: MappedGuestMemory, dispatcher: IODispatcher, pciINTxRouting: PCIINTxRouting) throws -> any MachineBackend
    /// Creates `count` vCPUs: vCPU 0 starts in `boot`, the others wait for INIT/SIPI.
    func createProcessors(count: Int, boot: X86CPUState) throws
    /// Starts the vCPUs, handing every port-I/O and MMIO exit to `sink`.
    func start(sink: any IORequestSink) throws
    /// Asks the vCPUs to stop for `reason`; the first reason given wins. Safe from any thread,
    /// also before ``start(sink:)`` (the run then ends as soon as it starts).
    func stop(_ reason: MachineStopReason)
    /// Waits until every vCPU has stopped and says why.
    func wait() -> MachineRunOutcome
}

/// Why a machine was asked to stop.
public enum MachineStopReason: Sendable, Hashable {
    /// The host asked (a signal, a control command).
    case host
    /// The guest powered off (ACPI S5).
    case powerOff
    /// The guest reset the machine (a reset register, the keyboard controller, a triple fault
    /// where reset is the policy).
    case reset
    /// The guest asked to exit with a status (a debug-exit port).
    case guestExit(Int32)
    /// The guest kernel panicked (pvpanic).
    case guestPanic
}

/// How a machine's run ended.
public enum MachineRunOutcome: Sendable, Hashable {
    /// It was asked to stop.
    case stopped(MachineStopReason)
    /// A vCPU failed (the description names the vCPU and why, e.g. a triple fault).
    case failed(String)
}
