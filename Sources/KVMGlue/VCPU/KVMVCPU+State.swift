import CKVM
#if canImport(Glibc)
import Glibc
#endif

// Saving and loading a vCPU's whole state (KVMVCPUState). Only while no thread is inside
// KVM_RUN for the vCPU: before the runner starts it, or while it is parked at the pause gate.

extension KVMVCPU {
    /// Reads the vCPU's state, in Firecracker's order: the MP state first (reading it lets KVM
    /// accept pending INIT/SIPI events, which changes the rest), the vCPU events last.
    /// `KVM_GET_MP_STATE`, `KVM_GET_REGS`, `KVM_GET_SREGS`, `KVM_GET_XSAVE2`/`KVM_GET_XSAVE`/`KVM_GET_FPU`,
    /// `KVM_GET_XCRS`, `KVM_GET_DEBUGREGS`, `KVM_GET_LAPIC`, `KVM_GET_CPUID2`, `KVM_GET_MSRS`,
    /// `KVM_GET_VCPU_EVENTS`.
    public func saveState(limits: KVMStateLimits) throws(KVMError) -> KVMVCPUState {
        let mp = try mpState()
        var regs = kvm_regs()
        try check(ckvm_get_regs(fd, &regs), "KVM_GET_REGS")
        var sregs = kvm_sregs()
        try check(ckvm_get_sregs(fd, &sregs), "KVM_GET_SREGS")
        let fpu = try saveFPU(limits: limits)
        var xcrsBytes: [UInt8]?
        if limits.hasXCRS {
            var xcrs = kvm_xcrs()
            try check(ckvm_get_xcrs(fd, &xcrs), "KVM_GET_XCRS")
            xcrsBytes = RawStruct.bytes(of: xcrs)
        }
        var debugBytes: [UInt8]?
        if limits.hasDebugRegisters {
            var debug = kvm_debugregs()
            try check(ckvm_get_debugregs(fd, &debug), "KVM_GET_DEBUGREGS")
            debugBytes = RawStruct.bytes(of: debug)
        }
        var lapic = kvm_lapic_state()
        try check(ckvm_get_lapic(fd, &lapic), "KVM_GET_LAPIC")
        let cpuid = try cpuidTable()
        let msrs = try readMSRs(limits.saveableMSRs)
        var events = kvm_vcpu_events()
        try check(ckvm_get_vcpu_events(fd, &events), "KVM_GET_VCPU_EVENTS")
        return KVMVCPUState(
            id: id, cpuid: cpuid.entries, regs: RawStruct.bytes(of: regs), sregs: RawStruct.bytes(of: sregs), fpu: fpu,
            xcrs: xcrsBytes, msrs: msrs, lapic: RawStruct.bytes(of: lapic), events: RawStruct.bytes(of: events), mpState: mp,
            debugRegisters: debugBytes)
    }

    /// Loads `state` (validated by ``KVMVCPUState/init(record:limits:)`` for this host) into a
    /// vCPU that has not run, in Firecracker's order, which meets KVM's dependencies: CPUID
    /// first (it decides which values the rest may have), the MP state, the registers before
    /// the events (`KVM_SET_REGS` drops a pending exception that the events restore), the special
    /// registers before the LAPIC (they carry the APIC base), the LAPIC before the MSRs (the
    /// TSC-deadline MSR only sticks in the timer mode the LAPIC sets), and among the MSRs the
    /// TSC before the TSC deadline.
    /// `KVM_SET_CPUID2`, `KVM_SET_MP_STATE`, `KVM_SET_REGS`, `KVM_SET_SREGS`, `KVM_SET_XSAVE`/`KVM_SET_FPU`,
    /// `KVM_SET_XCRS`, `KVM_SET_DEBUGREGS`, `KVM_SET_LAPIC`, `KVM_SET_MSRS`, `KVM_SET_VCPU_EVENTS`.
    ///
    /// - Parameter includingCPUID: false for a vCPU that has run (a reset to its power-on
    ///   state): KVM refuses a CPUID change after the first `KVM_RUN`, and a reset keeps it.
    public func restoreState(_ state: KVMVCPUState, includingCPUID: Bool = true) throws(KVMError) {
        if includingCPUID { try setCPUID(CPUIDTable(entries: state.cpuid)) }
        try check(ckvm_set_mp_state(fd, state.mpState), "KVM_SET_MP_STATE(\(state.mpState))")
        var regs = try load(kvm_regs.self, state.regs, "regs")
        try check(ckvm_set_regs(fd, &regs), "KVM_SET_REGS")
        var sregs = try load(kvm_sregs.self, state.sregs, "sregs")
        try check(ckvm_set_sregs(fd, &sregs), "KVM_SET_SREGS")
        switch state.fpu {
        case .xsave(let area):
            try check(area.withUnsafeBytes { ckvm_set_xsave(fd, $0.baseAddress) }, "KVM_SET_XSAVE (\(area.count) bytes)")
        case .legacy(let bytes):
            var fpu = try load(kvm_fpu.self, bytes, "fpu")
            try check(ckvm_set_fpu(fd, &fpu), "KVM_SET_FPU")
        }
        if let bytes = state.xcrs {
            var xcrs = try load(kvm_xcrs.self, bytes, "xcrs")
            try check(ckvm_set_xcrs(fd, &xcrs), "KVM_SET_XCRS")
        }
        if let bytes = state.debugRegisters {
            var debug = try load(kvm_debugregs.self, bytes, "debugregs")
            try check(ckvm_set_debugregs(fd, &debug), "KVM_SET_DEBUGREGS")
        }
        var lapic = try load(kvm_lapic_state.self, state.lapic, "lapic")
        try check(ckvm_set_lapic(fd, &lapic), "KVM_SET_LAPIC")
        try writeMSRs(Self.restoreOrder(state.msrs))
        var events = try load(kvm_vcpu_events.self, state.events, "events")
        try check(ckvm_set_vcpu_events(fd, &events), "KVM_SET_VCPU_EVENTS")
    }

    /// Tells the guest's kvmclock that the host kept the vCPU stopped (after a pause or a
    /// restore), so that its soft-lockup watchdog does not take the gap for a hang, as QEMU and
    /// Firecracker do when the guest runs again. False when the guest has not enabled kvmclock.
    /// `KVM_KVMCLOCK_CTRL`.
    @discardableResult
    public func reportHostPause() -> Bool { ckvm_kvmclock_ctrl(fd) == 0 }

    /// `IA32_TSC_DEADLINE` (0x6E0) is armed relative to the TSC (0x10): it goes last.
    static func restoreOrder(_ msrs: [KVMVCPUState.MSR]) -> [KVMVCPUState.MSR] {
        let deadline: UInt32 = 0x6E0
        return msrs.filter { $0.index != deadline } + msrs.filter { $0.index == deadline }
    }

    /// The CPUID table the vCPU was given. `KVM_GET_CPUID2`.
    public func cpuidTable() throws(KVMError) -> CPUIDTable {
        var entries = [kvm_cpuid_entry2](repeating: kvm_cpuid_entry2(), count: KVMVCPUState.maxCPUIDEntries)
        var count: UInt32 = 0
        let r = entries.withUnsafeMutableBufferPointer { ckvm_get_cpuid(fd, $0.baseAddress, UInt32($0.count), &count) }
        try check(r, "KVM_GET_CPUID2")
        return CPUIDTable(entries: entries.prefix(Int(count)).map(CPUIDEntry.init))
    }

    /// Reads `indices` with `KVM_GET_MSRS`. KVM stops at the first MSR it cannot read for this
    /// vCPU (one its CPUID lacks, on older kernels): that one is left out and the rest read on.
    func readMSRs(_ indices: [UInt32]) throws(KVMError) -> [KVMVCPUState.MSR] {
        var result: [KVMVCPUState.MSR] = []
        var rest = indices[...]
        while !rest.isEmpty {
            let chunk = Array(rest)
            var values = [UInt64](repeating: 0, count: chunk.count)
            let n = values.withUnsafeMutableBufferPointer { v in
                chunk.withUnsafeBufferPointer { ckvm_get_msrs(fd, $0.baseAddress, v.baseAddress, UInt32(chunk.count)) }
            }
            try check(n < 0 ? -1 : 0, "KVM_GET_MSRS (\(chunk.count) MSRs)")
            let read = min(Int(n), chunk.count)
            for i in 0..<read { result.append(.init(index: chunk[i], value: values[i])) }
            rest = rest.dropFirst(read + 1)
        }
        return result
    }

    /// Writes `msrs` in order with `KVM_SET_MSRS`. An MSR KVM refuses is skipped when the vCPU
    /// already holds the saved value (some of KVM's saveable MSRs, feature MSRs among them, take
    /// no host write in some configurations but start out equal); any other refusal is the error.
    func writeMSRs(_ msrs: [KVMVCPUState.MSR]) throws(KVMError) {
        var rest = msrs[...]
        while !rest.isEmpty {
            let indices = rest.map(\.index)
            let values = rest.map(\.value)
            let n = indices.withUnsafeBufferPointer { i in
                values.withUnsafeBufferPointer { ckvm_set_msrs(fd, i.baseAddress, $0.baseAddress, UInt32(indices.count)) }
            }
            try check(n < 0 ? -1 : 0, "KVM_SET_MSRS (\(indices.count) MSRs)")
            let written = min(Int(n), indices.count)
            guard written < indices.count else { return }
            let refused = rest[rest.startIndex + written]
            guard try readMSRs([refused.index]).first?.value == refused.value else {
                throw .msrRefused(vcpu: id, index: refused.index, value: refused.value)
            }
            rest = rest.dropFirst(written + 1)
        }
    }

    private func saveFPU(limits: KVMStateLimits) throws(KVMError) -> KVMVCPUState.FPUState {
        guard let size = limits.xsaveSize else {
            var fpu = kvm_fpu()
            try check(ckvm_get_fpu(fd, &fpu), "KVM_GET_FPU")
            return .legacy(RawStruct.bytes(of: fpu))
        }
        var area = [UInt8](repeating: 0, count: size)
        let r = area.withUnsafeMutableBytes { limits.usesXSAVE2 ? ckvm_get_xsave2(fd, $0.baseAddress) : ckvm_get_xsave(fd, $0.baseAddress) }
        try check(r, limits.usesXSAVE2 ? "KVM_GET_XSAVE2 (\(size) bytes)" : "KVM_GET_XSAVE")
        return .xsave(area)
    }

    private func load<T: BitwiseCopyable>(_ type: T.Type, _ bytes: [UInt8], _ what: String) throws(KVMError) -> T {
        guard let v = RawStruct.load(type, from: bytes) else {
            throw .invalidState("vCPU \(id): \(what) has \(bytes.count) bytes, not \(MemoryLayout<T>.size)")
        }
        return v
    }

    private func check(_ result: Int32, _ what: String) throws(KVMError) {
        guard result >= 0 else { throw .ioctlFailed("\(what) (vCPU \(id))", errno: errno) }
    }
}
