/// swiftdm's KVM backend.
///
/// - ``KVMSystem``: `/dev/kvm` with API-version and capability checks.
/// - ``KVMVirtualMachine``: a VM fd — in-kernel irqchip and PIT, memory slots (``GuestRAMLayout``,
///   firmware images), vCPU creation.
/// - ``KVMVCPU`` and ``VCPURunner``: vCPU threads running `KVM_RUN`, turning port-I/O and MMIO
///   exits into ``DeviceModel/IORequest``s for an ``IORequestSink`` (by default the core
///   ``DeviceModel/IODispatcher``); other exits end the run with a ``VCPUError`` carrying the registers.
/// - ``KVMIOEventRegistrar``, ``KVMMSIController``, ``KVMInterruptLines``, ``KVMGSIRouting``: the
///   core's ioeventfd and interrupt protocols on `KVM_IOEVENTFD`, `KVM_SIGNAL_MSI`, `KVM_IRQ_LINE`,
///   `KVM_IRQFD` and `KVM_SET_GSI_ROUTING`.
/// - ``RealModeReset`` and ``LongModeEntry``: initial CPU state for firmware and for a 64-bit kernel.
public enum KVMGlueInfo {
    /// The KVM API version this backend speaks (`KVM_GET_API_VERSION`).
    public static let apiVersion: Int32 = 12
}
