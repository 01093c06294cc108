import CKVM
#if canImport(Glibc)
import Glibc
#endif

/// What a host's KVM can save and accept: the shape processor state must have to be restored
/// here. Records are validated against it before any of them reaches the kernel.
public struct KVMStateLimits: Sendable, Hashable {
    /// The size of the XSAVE area (`KVM_CAP_XSAVE2`, else 4096 with `KVM_CAP_XSAVE`); nil when
    /// only the legacy `kvm_fpu` is available.
    public var xsaveSize: Int?
    /// `KVM_CAP_XCRS`.
    public var hasXCRS: Bool
    /// `KVM_CAP_DEBUGREGS`.
    public var hasDebugRegisters: Bool
    /// The MSRs KVM saves and restores (`KVM_GET_MSR_INDEX_LIST`), in KVM's order.
    public var saveableMSRs: [UInt32]

    public init(xsaveSize: Int?, hasXCRS: Bool, hasDebugRegisters: Bool, saveableMSRs: [UInt32]) {
        self.xsaveSize = xsaveSize
        self.hasXCRS = hasXCRS
        self.hasDebugRegisters = hasDebugRegisters
        self.saveableMSRs = saveableMSRs
    }

    /// What `system` supports.
    public init(system: KVMSystem) throws(KVMError) {
        let xsave2 = system.check(.xsave2)
        if xsave2 > 0 {
            xsaveSize = max(Int(xsave2), MemoryLayout<kvm_xsave>.size)
        } else {
            xsaveSize = system.supports(.xsave) ? MemoryLayout<kvm_xsave>.size : nil
        }
        hasXCRS = system.supports(.xcrs)
        hasDebugRegisters = system.supports(.debugRegisters)
        saveableMSRs = try system.saveableMSRs()
    }

    /// Whether `KVM_GET_XSAVE2` (rather than `KVM_GET_XSAVE`) reads the area.
    var usesXSAVE2: Bool { (xsaveSize ?? 0) > MemoryLayout<kvm_xsave>.size }
}

extension KVMSystem {
    /// The MSRs KVM can save and restore for a vCPU, as QEMU's `kvm_get_supported_msrs` asks:
    /// the SYSCALL/SYSENTER MSRs, PAT, TSC, TSC_ADJUST, TSC_DEADLINE, MISC_ENABLE, kvmclock,
    /// async PF, steal time, PV EOI, … as far as this host has them. `KVM_GET_MSR_INDEX_LIST`.
    public func saveableMSRs() throws(KVMError) -> [UInt32] {
        var capacity: UInt32 = 256
        while true {
            var indices = [UInt32](repeating: 0, count: Int(capacity))
            var count: UInt32 = 0
            let r = indices.withUnsafeMutableBufferPointer { ckvm_get_msr_index_list(fd, $0.baseAddress, capacity, &count) }
            if r == 0 { return Array(indices.prefix(Int(count))) }
            guard errno == E2BIG, count > capacity, count <= 65536 else { throw .ioctlFailed("KVM_GET_MSR_INDEX_LIST", errno: errno) }
            capacity = count
        }
    }
}
