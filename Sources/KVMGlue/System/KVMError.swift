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
    /// Processor state was asked for while vCPUs may be running guest code (`state` says what
    /// they are doing): it can only be saved while they are paused.
    case notPaused(state: String)
    /// `KVM_SET_MSRS` refused an MSR value while restoring vCPU `vcpu`.
    case msrRefused(vcpu: Int, index: UInt32, value: UInt64)
    /// The accelerator cannot do this now (`why` says what it is doing instead).
    case wrongPhase(String)
    /// Saved state cannot be loaded (a struct of the wrong size, built without validation).
    case invalidState(String)

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
        case .notPaused(let state):
            return "processor state can only be saved while the vCPUs are paused (they are \(state))"
        case .msrRefused(let vcpu, let index, let value):
            return "vCPU \(vcpu): KVM refused MSR 0x\(String(index, radix: 16)) = 0x\(String(value, radix: 16))"
        case .wrongPhase(let why):
            return why
        case .invalidState(let why):
            return "invalid processor state: \(why)"
        }
    }
}
