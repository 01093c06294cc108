import CDeviceModelShims
import CKVM
#if canImport(Glibc)
import Glibc
#endif

/// An open `/dev/kvm`: the entry point of the KVM backend.
///
/// Opening checks the API version and the capabilities in ``KVMCapability/required``, so a
/// host that cannot run swiftdm's machine fails here with one clear error instead of later.
public final class KVMSystem: Sendable {
    /// The default device path.
    public static let defaultPath = "/dev/kvm"

    /// The `/dev/kvm` file descriptor; valid for the lifetime of this object.
    public let fd: Int32
    public let path: String
    /// Size of each vCPU's shared `kvm_run` mapping (`KVM_GET_VCPU_MMAP_SIZE`).
    public let vcpuMmapSize: Int

    /// Opens `path`, checks `KVM_GET_API_VERSION == 12` and the `required` capabilities.
    public init(path: String = KVMSystem.defaultPath, required: [KVMCapability] = KVMCapability.required) throws(KVMError) {
        let fd = swiftdm_open(path, O_RDWR | O_CLOEXEC, 0)
        guard fd >= 0 else { throw .cannotOpen(path: path, errno: errno) }
        self.fd = fd
        self.path = path
        let version = ckvm_get_api_version(fd)
        guard version == KVMGlueInfo.apiVersion else {
            close(fd)
            if version < 0 { throw .ioctlFailed("KVM_GET_API_VERSION", errno: errno) }
            throw .apiVersionMismatch(found: version, expected: KVMGlueInfo.apiVersion)
        }
        for cap in required where ckvm_check_extension(fd, cap.rawValue) <= 0 {
            close(fd)
            throw .missingCapability(cap)
        }
        let size = ckvm_get_vcpu_mmap_size(fd)
        guard size > 0 else {
            let e = errno
            close(fd)
            throw .ioctlFailed("KVM_GET_VCPU_MMAP_SIZE", errno: e)
        }
        self.vcpuMmapSize = Int(size)
    }

    deinit { close(fd) }

    /// `KVM_CHECK_EXTENSION`: 0 when absent, otherwise a capability-specific positive value.
    public func check(_ capability: KVMCapability) -> Int32 {
        max(0, ckvm_check_extension(fd, capability.rawValue))
    }

    /// True when the capability is present.
    public func supports(_ capability: KVMCapability) -> Bool { check(capability) > 0 }

    /// The most vCPUs one VM may have (`KVM_CAP_MAX_VCPUS`, else `KVM_CAP_NR_VCPUS`, else 4 as the API documents).
    public var maxVCPUs: Int {
        let m = check(.maxVCPUs)
        if m > 0 { return Int(m) }
        let n = check(.recommendedVCPUs)
        return n > 0 ? Int(n) : 4
    }

    /// The CPUID leaves this kernel can virtualize (`KVM_GET_SUPPORTED_CPUID`).
    public func supportedCPUID() throws(KVMError) -> CPUIDTable {
        var capacity: UInt32 = 128
        while true {
            var entries = [kvm_cpuid_entry2](repeating: kvm_cpuid_entry2(), count: Int(capacity))
            var count: UInt32 = 0
            let r = entries.withUnsafeMutableBufferPointer { ckvm_get_supported_cpuid(fd, $0.baseAddress, capacity, &count) }
            if r == 0 { return CPUIDTable(entries: entries.prefix(Int(count)).map(CPUIDEntry.init)) }
            guard errno == E2BIG, capacity < 4096 else { throw .ioctlFailed("KVM_GET_SUPPORTED_CPUID", errno: errno) }
            capacity *= 2
        }
    }

    /// Creates an empty VM (`KVM_CREATE_VM`).
    public func createVM() throws(KVMError) -> KVMVirtualMachine {
        let vmfd = ckvm_create_vm(fd)
        guard vmfd >= 0 else { throw .ioctlFailed("KVM_CREATE_VM", errno: errno) }
        return KVMVirtualMachine(system: self, fd: vmfd)
    }

    /// True on a host whose KVM is PVM (`/sys/module/kvm_pvm` exists): there, guests that are not
    /// PVM-enlightened (every unmodified kernel, firmware) run under instruction emulation.
    public static var isPVMHost: Bool { access("/sys/module/kvm_pvm", F_OK) == 0 }
}
