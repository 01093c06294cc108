/// Test guests built from Debian packages (kernel, busybox initrd, virtio modules, fio,
/// iperf3) and runners that boot them under QEMU or user-mode Linux for real-driver tests.
public enum GuestKitInfo {
    /// Marker `/init` prints once the guest's modules are loaded.
    public static let readyMarker = "SWIFTDM-GUEST-READY"
}
