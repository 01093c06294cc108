import Virtio

/// Builds the virtio device a ``VirtioDeviceSpec`` names: the same device objects whichever
/// transport or backend then serves them (virtio-pci or virtio-mmio on KVM or Xen, or
/// vhost-user to another VMM).
public enum DeviceCatalogue {
    /// Builds `spec`'s device; a failure names the device and why (a missing image, a tap that
    /// cannot be created, a socket path in use).
    public static func makeDevice(_ spec: VirtioDeviceSpec, context: DeviceBuildContext = DeviceBuildContext()) throws(MachineError)
        -> any VirtioDevice
    {
        do {
            return try spec.makeDevice(context)
        } catch {
            throw .deviceUnusable(device: spec.description, reason: "\(error)")
        }
    }
}
