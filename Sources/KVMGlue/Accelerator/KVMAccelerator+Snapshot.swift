import DeviceModel
import X86Machine

extension KVMAccelerator {
    /// The VM's record (``KVMVMState``: PICs, IOAPIC, PIT, kvmclock) and one per vCPU
    /// (``KVMVCPUState``), read while the vCPUs are paused or before they were started. The
    /// kvmclock of a paused machine is the one ``pause()`` held, so the restored guest does not
    /// see the time between the pause and the save either.
    ///
    /// Holds the accelerator's lock throughout, so that a concurrent ``resume()`` waits.
    /// - Throws: ``KVMError/notPaused(state:)`` while the vCPUs run or after the run ended;
    ///   ``KVMError/ioctlFailed(_:errno:)`` naming the ioctl and vCPU KVM refused.
    public func saveProcessorState() throws -> [DeviceStateRecord] {
        let limits = try KVMStateLimits(system: system)
        return try state.withLock { (s: inout State) throws(KVMError) -> [DeviceStateRecord] in
            if let runner = s.runner {
                guard runner.result == nil else { throw .notPaused(state: "stopped: the run has ended") }
                guard s.paused, runner.isPaused else { throw .notPaused(state: "running") }
            }
            guard !s.vcpus.isEmpty else { throw .wrongPhase("there is no processor state to save before createProcessors") }
            var machine = try vm.saveState(vcpuCount: s.vcpus.count)
            // Restored but not yet started: the clock the guest will start with. Paused: the
            // clock the guest stopped at, which resume() would continue from.
            if s.runner == nil, let clock = s.pendingClock { machine.clockNanoseconds = clock }
            if s.paused, let clock = s.pausedClock { machine.clockNanoseconds = clock }
            var vcpus: [KVMVCPUState] = []
            for vcpu in s.vcpus { vcpus.append(try vcpu.saveState(limits: limits)) }
            return KVMSavedState(vm: machine, vcpus: vcpus).records
        }
    }

    /// Creates `count` vCPUs in the state `records` hold, in place of
    /// ``createProcessors(count:boot:)``: validates every `kvm/` record against this host
    /// (``KVMSavedState/init(records:vcpuCount:limits:)``), then creates each vCPU and loads its
    /// state (``KVMVCPU/restoreState(_:)``), then the PICs, IOAPIC and PIT
    /// (``KVMVirtualMachine/restoreInterruptControllers(_:)``). The kvmclock is set by
    /// ``start(sink:)``, so that guest time does not run on while devices and RAM are loaded.
    ///
    /// Call on a fresh accelerator after ``mapRAM(_:)`` and with the saved RAM contents loaded
    /// (kvmclock, steal-time and async-PF MSRs point into RAM, and `KVM_SET_SREGS` reads a PAE
    /// guest's page-directory pointers from it), before ``start(sink:)``.
    /// - Throws: ``DeviceStateError`` for a missing, damaged or foreign record (nothing is
    ///   loaded then); ``KVMError`` if vCPUs exist already or KVM refuses a value.
    public func createProcessors(count: Int, restoring records: [DeviceStateRecord]) throws {
        guard state.withLock({ $0.vcpus.isEmpty && $0.runner == nil }) else {
            throw KVMError.wrongPhase("processor state can only be restored into an accelerator without vCPUs")
        }
        guard count >= 1, count <= system.maxVCPUs else { throw KVMError.tooManyVCPUs(requested: count, maximum: system.maxVCPUs) }
        let limits = try KVMStateLimits(system: system)
        let saved = try KVMSavedState(records: records, vcpuCount: count, limits: limits)
        var vcpus: [KVMVCPU] = []
        var powerOn: [KVMVCPUState] = []
        for v in saved.vcpus {
            let vcpu = try vm.createVCPU(id: v.id)
            // The state a reset returns to: the new vCPU with the saved CPUID, before the rest.
            try vcpu.setCPUID(CPUIDTable(entries: v.cpuid))
            powerOn.append(try vcpu.saveState(limits: limits))
            try vcpu.restoreState(v)
            vcpus.append(vcpu)
        }
        try vm.restoreInterruptControllers(saved.vm)
        state.withLock { s in
            s.vcpus = vcpus
            s.powerOnVCPUs = powerOn
            s.pendingClock = saved.vm.clockNanoseconds
        }
    }
}
