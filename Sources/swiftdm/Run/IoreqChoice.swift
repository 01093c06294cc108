/// Where `swiftdm run` sends the vCPUs' I/O exits (`--ioreq`).
enum IoreqChoice: String, CaseIterable, Hashable {
    /// Straight to the dispatcher, with KVM's ioeventfds, MSI and IRQ lines.
    case kvm
    /// Through a simulated Xen: every port-I/O and MMIO exit becomes an ioreq in the
    /// simulated ioreq pages, served by XenGlue's ioreq server; interrupts go through the
    /// simulated `inject_msi`/`set_pci_intx_level`/`set_isa_irq_level`.
    case xenSim = "xen-sim"
}
