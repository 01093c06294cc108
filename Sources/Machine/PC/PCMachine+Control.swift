import DeviceModel
import VirtioDevices
import X86Machine

/// What a control plane (QMP, an embedder) may do to a running ``PCMachine``. Every member is
/// safe from any thread but a vCPU's.
extension PCMachine {
    /// Stops every vCPU at a safe point (out of `KVM_RUN`, its last exit handled) and returns
    /// once none runs guest code. Devices keep serving requests already queued.
    public func pause() throws(MachineError) {
        guard let pausable = accelerator as? any PausableAccelerator else {
            throw .controlRefused("this machine's accelerator cannot pause its vCPUs")
        }
        guard pausable.pause() else {
            throw .controlRefused("the vCPUs did not pause: the run has ended or a vCPU is stuck in a device")
        }
    }

    /// Lets paused vCPUs run again.
    public func resume() throws(MachineError) {
        guard let pausable = accelerator as? any PausableAccelerator else {
            throw .controlRefused("this machine's accelerator cannot pause or resume its vCPUs")
        }
        pausable.resume()
    }

    /// Presses the ACPI power button (``ACPIPowerManagement/pressPowerButton()``): an OS that
    /// handles it shuts down, which ends the run as a guest power-off.
    public func pressPowerButton() {
        platform.powerManagement.pressPowerButton()
    }

    /// One virtio-blk device of the machine, numbered among the block devices in attachment
    /// order (`virtio0`, `virtio1`, … as QEMU names `-drive if=virtio`).
    public struct BlockDeviceEntry {
        /// `virtioN`.
        public let name: String
        public let attachment: VirtioDeviceAttacher.Attachment
        public let device: VirtioBlockDevice
    }

    /// The virtio-blk devices, in attachment order.
    public var blockDevices: [BlockDeviceEntry] {
        devices.attachments.compactMap { a in (a.device as? VirtioBlockDevice).map { (a, $0) } }
            .enumerated().map { i, pair in BlockDeviceEntry(name: "virtio\(i)", attachment: pair.0, device: pair.1) }
    }
}
