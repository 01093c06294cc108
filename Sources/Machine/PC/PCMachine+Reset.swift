import DeviceModel
import X86Machine

/// Resetting a running PC in place, as QEMU's `system_reset` does (`qemu_system_reset`: every
/// device's reset handler, then the CPUs'), rather than ending the run.
extension PCMachine {
    /// True when the accelerator can put its processors back to their power-on state
    /// (``X86Machine/ResettableAccelerator``), so that ``systemReset()`` works.
    public var canResetInPlace: Bool { accelerator is any ResettableAccelerator }

    /// Resets the machine in place; the guest boots again in the same process, with the same
    /// disks, taps and RAM contents (a reset does not clear RAM).
    ///
    /// With the vCPUs paused at a safe point: every virtio device stops (its in-flight requests
    /// complete into the used rings) and reads status 0; every PCI function returns to its
    /// state at attach (command, BARs, MSI-X off and masked), which unmaps its BARs; the
    /// platform devices return to power-on (CMOS RAM and the clock keep their contents); the
    /// boot image is established again — the BIOS's copy below 1 MiB written afresh (real
    /// hardware reads it from ROM again; SeaBIOS keeps its run state there), or the kernel,
    /// initrd, command line, ACPI and page tables loaded again from their files — and the vCPUs
    /// go back to their power-on state, vCPU 0 at the boot entry. A running machine then runs
    /// again; a paused one stays paused until ``resume()``.
    ///
    /// - Throws: ``MachineError/controlRefused(_:)`` when the accelerator cannot reset its
    ///   processors or pause them (the run has ended); ``MachineError/fileUnusable(option:path:reason:)``
    ///   or ``MachineError/setupFailed(_:)`` when the boot image cannot be loaded again — the
    ///   machine then stays paused, half reset, for its owner to end.
    public func systemReset() throws(MachineError) {
        guard let resettable = accelerator as? any ResettableAccelerator else {
            throw .controlRefused("this machine's accelerator cannot reset its processors in place")
        }
        let wasPaused = resettable.isPaused
        guard resettable.pause() else {
            throw .controlRefused("the vCPUs did not pause: the run has ended or a vCPU is stuck in a device")
        }
        // Devices first, so that no interrupt line is left asserted into the reset controllers.
        devices.systemReset()
        pciBus.systemReset()
        hostBridge.systemReset()
        platform.systemReset()
        firmwareConfig?.systemReset()
        let boot = try bootImageAgain()
        do {
            try resettable.resetProcessors(boot: boot)
        } catch {
            throw .controlRefused("resetting the processors: \(error)")
        }
        if !wasPaused { resettable.resume() }
    }

    /// Writes the boot image into RAM again and returns vCPU 0's entry state.
    private func bootImageAgain() throws(MachineError) -> X86CPUState {
        switch configuration.boot {
        case .firmware(let path):
            guard let firmwareImage else { throw .setupFailed("the firmware image of \(path) is not loaded") }
            do {
                try firmwareImage.writeLegacyCopy(to: ram)
            } catch {
                throw .fileUnusable(option: "--firmware", path: path, reason: "\(error)")
            }
            return X86CPUState.powerOn
        case .kernel(let path, let initrd, let commandLine):
            return try loadKernel(path: path, initrd: initrd, commandLine: commandLine)
        }
    }
}
