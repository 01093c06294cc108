import CKVM
import DeviceModel
import X86Machine
#if canImport(Glibc)
import Glibc
#endif

/// One virtual CPU: its file descriptor and the shared `kvm_run` page.
///
/// Register access is for setup before ``VCPURunner`` starts it and for diagnostics after it
/// stopped; while the runner owns it, only the runner's thread calls `KVM_RUN`.
public final class KVMVCPU: @unchecked Sendable {
    // SAFETY (@unchecked): `run` points at the vCPU's mmap'd `kvm_run` page, which stays mapped until
    // deinit. Its fields are read and written only by the thread inside `KVM_RUN`'s exit handling
    // (the runner's thread for this vCPU), except `immediate_exit`, which other threads set with an
    // atomic store through `ckvm_run_set_immediate_exit`, as the KVM API allows.
    public let id: Int
    /// The vCPU file descriptor; valid for the lifetime of this object.
    public let fd: Int32
    let run: UnsafeMutablePointer<kvm_run>
    let runSize: Int
    /// Keeps the VM (and its fd) alive as long as the vCPU.
    public let vm: KVMVirtualMachine

    init(vm: KVMVirtualMachine, id: Int, fd: Int32, mmapSize: Int) throws(KVMError) {
        let p = mmap(nil, mmapSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        guard let p, p != MAP_FAILED else {
            let e = errno
            close(fd)
            throw .mmapFailed("kvm_run of vCPU \(id)", errno: e)
        }
        self.vm = vm
        self.id = id
        self.fd = fd
        self.run = p.assumingMemoryBound(to: kvm_run.self)
        self.runSize = mmapSize
    }

    deinit {
        munmap(run, runSize)
        close(fd)
    }

    /// The current register state. `KVM_GET_REGS` + `KVM_GET_SREGS`.
    public func registers() throws(KVMError) -> X86CPUState {
        var regs = kvm_regs()
        var sregs = kvm_sregs()
        guard ckvm_get_regs(fd, &regs) == 0 else { throw .ioctlFailed("KVM_GET_REGS(vCPU \(id))", errno: errno) }
        guard ckvm_get_sregs(fd, &sregs) == 0 else { throw .ioctlFailed("KVM_GET_SREGS(vCPU \(id))", errno: errno) }
        return X86CPUState(regs: regs, sregs: sregs)
    }

    /// Loads `registers`, e.g. an entry state X86Machine built (``X86Machine/X86CPUState/powerOn``
    /// for firmware, ``X86Machine/LongModeEntry/cpuState`` for a 64-bit kernel).
    ///
    /// The state is merged into the vCPU's current special registers, so what ``X86Machine/X86CPUState``
    /// does not carry — the APIC base and pending interrupts — stays as KVM has it.
    /// `KVM_GET_SREGS`, `KVM_SET_SREGS` + `KVM_SET_REGS`.
    public func setRegisters(_ registers: X86CPUState) throws(KVMError) {
        var sregs = kvm_sregs()
        guard ckvm_get_sregs(fd, &sregs) == 0 else { throw .ioctlFailed("KVM_GET_SREGS(vCPU \(id))", errno: errno) }
        registers.apply(to: &sregs)
        guard ckvm_set_sregs(fd, &sregs) == 0 else { throw .ioctlFailed("KVM_SET_SREGS(vCPU \(id))", errno: errno) }
        var regs = registers.rawRegs
        guard ckvm_set_regs(fd, &regs) == 0 else { throw .ioctlFailed("KVM_SET_REGS(vCPU \(id))", errno: errno) }
    }

    /// Reads, changes and writes back the registers.
    public func modifyRegisters(_ change: (inout X86CPUState) -> Void) throws(KVMError) {
        var r = try registers()
        change(&r)
        try setRegisters(r)
    }

    /// `KVM_SET_CPUID2`.
    public func setCPUID(_ table: CPUIDTable) throws(KVMError) {
        let raw = table.entries.map(\.raw)
        let r = raw.withUnsafeBufferPointer { ckvm_set_cpuid(fd, $0.baseAddress, UInt32($0.count)) }
        guard r == 0 else { throw .ioctlFailed("KVM_SET_CPUID2(vCPU \(id), \(raw.count) entries)", errno: errno) }
    }

    /// The multiprocessing state (`KVM_GET_MP_STATE`): 0 runnable, 1 uninitialized (an AP waiting
    /// for INIT/SIPI), 2 INIT received, 3 halted, 4 SIPI received.
    public func mpState() throws(KVMError) -> UInt32 {
        var s: UInt32 = 0
        guard ckvm_get_mp_state(fd, &s) == 0 else { throw .ioctlFailed("KVM_GET_MP_STATE(vCPU \(id))", errno: errno) }
        return s
    }

    /// Asks a `KVM_RUN` in progress (or the next one) to return at once with `EINTR`.
    func requestImmediateExit(_ on: Bool) { ckvm_run_set_immediate_exit(run, on ? 1 : 0) }
}
