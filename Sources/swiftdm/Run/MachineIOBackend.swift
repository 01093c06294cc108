import DeviceModel
import KVMGlue

/// Where a running machine's I/O goes: the four backend-facing protocols the devices and the vCPU
/// loop use. The default is KVM end to end; another backend (the Xen simulation behind
/// `--ioreq xen-sim`) replaces the sink — every exit becomes an ioreq — and the interrupt and
/// ioeventfd paths, while the devices stay the same.
struct MachineIOBackend {
    /// Receives every port-I/O and MMIO exit of every vCPU.
    var sink: any IORequestSink
    /// Where transports register their notify addresses.
    var ioEvents: any IoEventRegistrar
    /// How devices send MSIs.
    var msi: any MSIController
    /// How devices drive wired interrupts (GSIs).
    var lines: any InterruptLineProvider

    /// Everything through KVM: exits to the dispatcher, `KVM_IOEVENTFD` (PCI-config matches in
    /// the dispatcher's software table), `KVM_SIGNAL_MSI`, `KVM_IRQ_LINE`.
    static func kvm(vm: KVMVirtualMachine, dispatcher: IODispatcher) -> MachineIOBackend {
        MachineIOBackend(
            sink: dispatcher,
            ioEvents: KVMIoEventRegistrar(vm: vm, fallback: dispatcher.softwareIoEvents),
            msi: KVMMSIController(vm: vm),
            lines: KVMInterruptLines(vm: vm))
    }
}
