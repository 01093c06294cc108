import DeviceModel

/// Delivers MSIs on KVM with one irqfd per MSI-X vector, bound when the guest programs the
/// vector (``makeVectorRoute(_:)``, called by ``MSIXCapability`` on the vCPU thread), as Cloud
/// Hypervisor's `pci/src/msix.rs` does: raising a vector is then one eventfd write, with no
/// lock and no ioctl, and the kernel injects the interrupt from the irqfd wake-up.
///
/// A message without a route of its own (a vector being reprogrammed, or routes exhausted)
/// goes out with `KVM_SIGNAL_MSI` from the signalling thread; the routing table is never
/// changed on a device thread.
public final class KVMIrqfdMSIController: MSIController {
    public let routing: KVMGSIRouting
    private let direct: KVMMSIController

    public init(routing: KVMGSIRouting) {
        self.routing = routing
        direct = KVMMSIController(vm: routing.vm)
    }

    /// One message now, through `KVM_SIGNAL_MSI`.
    public func signal(_ message: MSIMessage) throws(InterruptError) {
        try direct.signal(message)
    }

    /// An irqfd on a GSI routed to `message` (one `KVM_SET_GSI_ROUTING` and one `KVM_IRQFD`).
    public func makeVectorRoute(_ message: MSIMessage) throws(InterruptError) -> (any MSIVectorRoute)? {
        do {
            return try routing.makeMSIRoute(message)
        } catch {
            throw InterruptError(error, what: "MSI route for \(message)")
        }
    }
}
