/// A device that returns to its power-on state when the whole machine resets (QMP
/// `system_reset`, as QEMU's `qemu_devices_reset` resets every device), separate from what the
/// device does and from a driver-initiated device reset such as virtio's status 0.
///
/// What survives a reset is the device's to decide, as on real hardware: CMOS RAM and the
/// real-time clock keep their contents, bytes the host queued for the guest stay queued, a
/// virtio device's backend (its disk, its tap) stays open.
///
/// Called with the vCPUs paused (no guest access in flight); the device may still be called
/// from its own threads meanwhile, so an implementation takes its usual locks.
public protocol SystemResettable: AnyObject {
    /// Puts every guest-visible register back to its power-on value and deasserts the
    /// device's interrupt outputs.
    func systemReset()
}
