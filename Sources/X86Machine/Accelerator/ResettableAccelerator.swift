/// An accelerator that can put its processors back to their power-on state while the machine
/// stays built — the processors' part of a machine-wide reset (QMP `system_reset`, which QEMU
/// serves in place). A capability of its own, as not every accelerator has it.
///
/// The machine pauses the vCPUs, resets its devices and re-establishes the boot image, then
/// calls ``resetProcessors(boot:)`` and lets the vCPUs run again:
/// ```swift
/// _ = accelerator.pause()
/// // … devices to their power-on state, the firmware's RAM copy written again …
/// try accelerator.resetProcessors(boot: .powerOn)
/// accelerator.resume()
/// ```
public protocol ResettableAccelerator: PausableAccelerator {
    /// Puts every vCPU back into the state it was created in — vCPU 0 then takes `boot`, the
    /// others wait for INIT/SIPI — and the accelerator's interrupt controllers and timers back
    /// to theirs. The guest's clock is not reset (QEMU keeps kvmclock across a reset too).
    ///
    /// Only while ``PausableAccelerator/pause()`` holds the vCPUs (or before
    /// ``X86Accelerator/start(sink:)``); otherwise it throws, since a running vCPU would race
    /// with the new state.
    func resetProcessors(boot: X86CPUState) throws
}
