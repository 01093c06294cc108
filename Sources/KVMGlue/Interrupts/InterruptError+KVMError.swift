import DeviceModel
#if canImport(Glibc)
import Glibc
#endif

extension InterruptError {
    /// A routing or irqfd failure as the interrupt paths report it: `what`, the KVM error, and
    /// the failed ioctl's errno (EIO for errors that carry none).
    init(_ error: KVMError, what: String) {
        if case .ioctlFailed(_, let e) = error {
            self = .deliveryFailed(what: "\(what): \(error)", errno: e)
        } else {
            self = .deliveryFailed(what: "\(what): \(error)", errno: EIO)
        }
    }
}
