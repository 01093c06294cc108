import CKVM
import DeviceModel
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Delivers MSIs with `KVM_SIGNAL_MSI` (needs the in-kernel irqchip).
///
/// The simplest path: one ioctl per interrupt from whichever thread raises it. Devices that
/// signal from an eventfd instead use an ``MSIRoute`` (irqfd).
public final class KVMMSIController: MSIController {
    public let vm: KVMVirtualMachine
    private let blocked = Atomic<UInt64>(0)

    public init(vm: KVMVirtualMachine) { self.vm = vm }

    /// Messages the guest did not accept (e.g. its LAPIC was disabled); not an error.
    public var blockedCount: UInt64 { blocked.load(ordering: .relaxed) }

    public func signal(_ message: MSIMessage) throws(InterruptError) {
        let r = ckvm_signal_msi(vm.fd, message.address, message.data)
        if r < 0 { throw .deliveryFailed(what: "KVM_SIGNAL_MSI \(message)", errno: errno) }
        if r == 0 { blocked.add(1, ordering: .relaxed) }
    }
}
