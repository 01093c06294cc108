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
    var ioEvents: any IOEventRegistrar
    /// How devices send MSIs.
    var msi: any MSIController
    /// How devices drive wired interrupts (GSIs).
    var lines: any InterruptLineProvider
    /// How the PCI bus names its INTx lines to `lines` (the PC's PIRQ swizzle onto GSIs 16–19,
    /// or Xen's per device/pin lines).
    var intxRouting: PCIINTxRouting = .swizzled((16, 17, 18, 19))
    /// Guest RAM as devices reach it (KVM: the mapped RAM; Xen: mapped on demand).
    var guestMemory: any GuestMemory
    /// Keeps the backend's own machinery (e.g. a simulated hypervisor) alive with the machine.
    var owner: AnyObject? = nil

    /// Everything through KVM: exits to the dispatcher, `KVM_IOEVENTFD` (PCI-config matches in
    /// the dispatcher's software table), MSIs through irqfd routes (``KVMIrqfdMSIController``),
    /// wired lines with `KVM_IRQ_LINE`.
    static func kvm(_ machine: MachineIOContext) -> MachineIOBackend {
        MachineIOBackend(
            sink: machine.dispatcher,
            ioEvents: KVMIOEventRegistrar(vm: machine.vm, fallback: machine.dispatcher.softwareIOEvents),
            msi: KVMIrqfdMSIController(routing: machine.routing),
            lines: KVMInterruptLines(vm: machine.vm),
            guestMemory: machine.ram)
    }
}

/// What an I/O backend is built from: the VM and the parts of the machine it may route through.
struct MachineIOContext {
    let vm: KVMVirtualMachine
    /// The VM's GSI routing table (irqchip routes installed; MSI routes may be added).
    let routing: KVMGSIRouting
    let dispatcher: IODispatcher
    let ram: MappedGuestMemory
    let cpuCount: Int
}
