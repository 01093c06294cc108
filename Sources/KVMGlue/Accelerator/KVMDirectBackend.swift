import DeviceModel

/// Devices straight on KVM: mapped guest RAM, `KVM_IOEVENTFD` (PCI-config matches in the
/// dispatcher's software table), MSIs through irqfd routes (``KVMIrqfdMSIController``), wired
/// lines with `KVM_IRQ_LINE`.
public final class KVMDirectBackend: MachineBackend {
    public let guestMemory: MappedGuestMemory
    public let ioEvents: KVMIOEventRegistrar
    public let msi: KVMIrqfdMSIController
    public let interruptLines: KVMInterruptLines
    public let pciINTxRouting: PCIINTxRouting

    public init(vm: KVMVirtualMachine, routing: KVMGSIRouting, ram: MappedGuestMemory, dispatcher: IODispatcher, pciINTxRouting: PCIINTxRouting) {
        guestMemory = ram
        ioEvents = KVMIOEventRegistrar(vm: vm, fallback: dispatcher.softwareIOEvents)
        msi = KVMIrqfdMSIController(routing: routing)
        interruptLines = KVMInterruptLines(vm: vm)
        self.pciINTxRouting = pciINTxRouting
    }
}
