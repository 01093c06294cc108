/// swiftdm's KVM backend.
///
/// - ``KVMSystem``: `/dev/kvm` with API-version and capability checks.
/// - ``KVMVirtualMachine``: a VM fd — in-kernel irqchip and PIT, memory slots (``GuestRAMLayout``,
///   ROMs, and ``KVMVirtualMachine/mapFirmware(_:)`` for an ``X86Machine/FirmwareImage``), vCPU creation.
/// - ``KVMVCPU`` and ``VCPURunner``: vCPU threads running `KVM_RUN`, turning port-I/O and MMIO
///   exits into ``DeviceModel/IORequest``s for an ``IORequestSink`` (by default the core
///   ``DeviceModel/IODispatcher``); other exits end the run with a ``VCPUError`` carrying the registers.
/// - ``KVMIOEventRegistrar``, ``KVMMSIController``, ``KVMInterruptLines``, ``KVMGSIRouting``: the
///   core's ioeventfd and interrupt protocols on `KVM_IOEVENTFD`, `KVM_SIGNAL_MSI`, `KVM_IRQ_LINE`,
///   `KVM_IRQFD` and `KVM_SET_GSI_ROUTING`.
/// - Snapshots: ``KVMAccelerator`` is a ``X86Machine/SnapshottableAccelerator``. While paused,
///   ``KVMAccelerator/saveProcessorState()`` returns ``DeviceModel/DeviceStateRecord``s: `kvm/vm`
///   (``KVMVMState``: PICs, IOAPIC, PIT, kvmclock) and `kvm/vcpu<N>` (``KVMVCPUState``: CPUID,
///   registers, XSAVE, XCRs, MSRs, LAPIC, events, MP state, debug registers), the kernel structs
///   as bytes. ``KVMAccelerator/createProcessors(count:restoring:)`` validates them against this
///   host (``KVMStateLimits``, ``KVMSavedState``) and loads them into new vCPUs; the clock is set
///   by ``KVMAccelerator/start(sink:)``. ``KVMAccelerator/pause()`` holds the kvmclock and
///   ``KVMAccelerator/resume()`` sets it back, so a stopped guest does not see the pause.
/// - Reset in place: ``KVMAccelerator`` is a ``X86Machine/ResettableAccelerator``;
///   ``KVMAccelerator/resetProcessors(boot:)`` puts paused vCPUs back to the state KVM created
///   them in (recorded at creation) and the PICs, IOAPIC and PIT to theirs.
/// - ``KVMVCPU/setRegisters(_:)`` loads an ``X86Machine/X86CPUState`` (X86Machine builds the entry
///   states: ``X86Machine/X86CPUState/powerOn`` for firmware, ``X86Machine/LongModeEntry`` for a
///   64-bit kernel); what is x86 machine knowledge rather than KVM mechanics lives there.
public enum KVMGlueInfo {
    /// The KVM API version this backend speaks (`KVM_GET_API_VERSION`).
    public static let apiVersion: Int32 = 12
}
