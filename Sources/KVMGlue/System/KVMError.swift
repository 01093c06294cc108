#if canImport(Glibc)
import Glibc
#endif

/// Errors from setting up KVM: opening `/dev/kvm`, creating the VM, its memory and vCPUs.
public enum KVMError: Error, Equatable, CustomStringConvertible {
    /// `open(path)` failed; `errno` says why (ENOENT: no KVM on this host, EACCES: no permission).
    case cannotOpen(path: String, errno: Int32)
    /// `KVM_GET_API_VERSION` returned something other than 12.
    case apiVersionMismatch(found: Int32, expected: Int32)
    /// The kernel lacks a capability swiftdm requires.
    case missingCapability(KVMCapability)
    /// An ioctl failed.
    case ioctlFailed(String, errno: Int32)
    /// `mmap` of a vCPU's `kvm_run` page or of guest RAM failed.
    case mmapFailed(String, errno: Int32)
    /// A requested memory layout is impossible (size, overlap, alignment), with the values.
    case invalidMemoryLayout(String)
    /// A vCPU thread could not be started.
    case threadCreateFailed(vcpu: Int, errno: Int32)
    /// The VM was asked for more vCPUs than the kernel allows.
    case tooManyVCPUs(requested: Int, maximum: Int)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let e):
            switch e {
            case ENOENT, ENODEV, ENXIO:
                return "cannot open \(path): no KVM on this host (\(String(cString: strerror(e))))"
            case EACCES, EPERM:
                return "cannot open \(path): permission denied (run as root or join the 'kvm' group)"
            default:
                return "cannot open \(path): \(String(cString: strerror(e))) (errno \(e))"
            }
        case .apiVersionMismatch(let found, let expected):
            return "KVM API version \(found) is not the supported version \(expected)"
        case .missingCapability(let cap):
            return "KVM lacks required capability \(cap)"
        case .ioctlFailed(let what, let e):
            return "\(what) failed: \(String(cString: strerror(e))) (errno \(e))"
        case .mmapFailed(let what, let e):
            return "mmap of \(what) failed: \(String(cString: strerror(e))) (errno \(e))"
        case .invalidMemoryLayout(let why):
            return "invalid guest memory layout: \(why)"
        case .threadCreateFailed(let vcpu, let e):
            return "cannot start thread for vCPU \(vcpu): errno \(e)"
        case .tooManyVCPUs(let requested, let maximum):
            return "\(requested) vCPUs requested, KVM allows at most \(maximum)"
        }
    }
}
