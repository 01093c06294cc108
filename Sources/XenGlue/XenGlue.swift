/// XenGlue: swiftdm as a Xen ioreq server.
///
/// The hypervisor side is reached through four small protocols, each with a libxen
/// implementation (`Libxen…`) and a simulated one (the `XenSimulation` target):
/// ``XenDeviceModelControl`` (libxendevicemodel), ``XenEventChannels`` (libxenevtchn),
/// ``XenForeignMemory`` (libxenforeignmemory) and ``XenStore`` (libxenstore), bundled as
/// ``XenHypervisor``.
///
/// ``XenIoreqServer`` registers with a domain, serves the per-vCPU ioreq slots and the
/// buffered ring by turning each `ioreq_t` into an `IORequest` for the core
/// `IODispatcher`, and maps guest memory on demand through ``XenForeignFrameMapper`` and
/// `PageMappedGuestMemory`. Interrupts leave through ``XenMSIController`` and
/// ``XenInterruptLines``.
public enum XenGlueInfo {
    /// Path of the privileged-command device every libxen call needs (a Xen dom0 has it).
    public static let privcmdPath = "/dev/xen/privcmd"
}
