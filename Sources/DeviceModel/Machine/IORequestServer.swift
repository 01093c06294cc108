/// A backend to which the hypervisor routes requests by the ranges the device model claims —
/// a Xen ioreq server. The device model has no vCPUs of its own: it claims its PCI functions
/// and the ports and MMIO its devices register, and answers what arrives, through
/// ``dispatcher``.
public protocol IORequestServer: MachineBackend {
    /// Where arriving requests are dispatched.
    var dispatcher: IODispatcher { get }
    /// Claims PCI function `address`'s config space, so its config cycles come here.
    func claimPCIFunction(_ address: PCIAddress) throws
    /// Claims every port and MMIO range registered in ``dispatcher``, now and as registrations
    /// change (BARs move when the guest programs them).
    func followRegistrations()
    /// Starts answering requests.
    func start() throws
    /// Stops answering and detaches from the domain. Idempotent.
    func stop()
}
