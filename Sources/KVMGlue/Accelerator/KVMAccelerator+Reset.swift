import X86Machine

extension KVMAccelerator {
    /// Puts the vCPUs back to the state KVM created them in (recorded by
    /// ``createProcessors(count:boot:)`` or ``createProcessors(count:restoring:)`` before any
    /// boot or saved state was loaded): registers at the reset vector, XSAVE, XCRs, debug
    /// registers, MSRs (the TSC near 0, kvmclock and async-PF off), LAPIC, events cleared, and
    /// the MP state — vCPU 0 runnable, the others waiting for INIT/SIPI. vCPU 0 then takes
    /// `boot` (``KVMVCPU/setRegisters(_:)``). The PICs, IOAPIC and PIT go back to their state at
    /// VM creation last, as a restore loads them (an IOAPIC with pending lines delivers to the
    /// LAPICs at once). The kvmclock runs on, as QEMU's does across a reset.
    ///
    /// Holds the accelerator's lock throughout, so that a concurrent ``resume()`` waits.
    /// - Throws: ``KVMError/notPaused(state:)`` while the vCPUs run or after the run ended;
    ///   ``KVMError/ioctlFailed(_:errno:)`` naming the ioctl KVM refused.
    public func resetProcessors(boot: X86CPUState) throws {
        try state.withLock { (s: inout State) throws(KVMError) in
            if let runner = s.runner {
                guard runner.result == nil else { throw .notPaused(state: "stopped: the run has ended") }
                guard s.paused, runner.isPaused else { throw .notPaused(state: "running") }
            }
            guard !s.vcpus.isEmpty, s.powerOnVCPUs.count == s.vcpus.count else {
                throw .wrongPhase("there are no processors to reset before createProcessors")
            }
            for (vcpu, powerOn) in zip(s.vcpus, s.powerOnVCPUs) {
                try vcpu.restoreState(powerOn, includingCPUID: false)
            }
            try s.vcpus[0].setRegisters(boot)
            try vm.restoreInterruptControllers(powerOnPlatform)
        }
    }
}
