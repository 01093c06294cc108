/// What a hypervisor backend gives a machine's devices: the one seam between device code and
/// KVM, Xen or a simulation.
///
/// Devices and transports reach guest memory, interrupts and queue notifications only through
/// these four paths; they never see a file descriptor, an ioctl or a hypercall. KVM provides
/// mapped RAM, `KVM_IOEVENTFD`, irqfd MSIs and `KVM_IRQ_LINE`; a Xen ioreq server provides
/// foreign-mapped memory, software ioeventfds in its dispatcher, `xendevicemodel_inject_msi`
/// and `set_pci_intx_level`/`set_isa_irq_level`.
///
/// Requests reach the devices the other way, as ``IORequest``s through an ``IODispatcher``:
/// a vCPU loop hands exits to an ``IORequestSink``; an ioreq server pulls them from its pages.
public protocol MachineBackend: AnyObject, Sendable {
    associatedtype Memory: GuestMemory
    associatedtype IOEvents: IOEventRegistrar
    associatedtype MSI: MSIController
    associatedtype Lines: InterruptLineProvider
    /// Guest RAM as devices reach it (checked, little-endian accessors).
    var guestMemory: Memory { get }
    /// Where transports register their queue-notify addresses.
    var ioEvents: IOEvents { get }
    /// How devices send message-signalled interrupts.
    var msi: MSI { get }
    /// How devices drive wired interrupts, by GSI.
    var interruptLines: Lines { get }
    /// How the PCI bus names a function's INTx pin to ``interruptLines`` (a PC's PIRQ swizzle
    /// onto GSIs 16–19, or Xen's per device and pin lines).
    var pciINTxRouting: PCIINTxRouting { get }
}
