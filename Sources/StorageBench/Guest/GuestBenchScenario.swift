/// The real-Linux scenarios of `swiftdm bench`: a guest-kit Linux under QEMU whose device is
/// served by swiftdm on one side and by the peer on the other, a fresh guest boot per side
/// and round. Their figures are what the guest's own tools measured.
public enum GuestBenchScenario: String, Sendable, CaseIterable {
    /// fio in the guest on `/dev/vda`, a vhost-user-blk device: `swiftdm vhost-user --blk`
    /// against `qemu-storage-daemon --export type=vhost-user-blk` on the same image.
    case fio = "linux-fio"
    /// iperf3 between the guest and the host side of a tap, both ways: virtio-net-pci on
    /// `-netdev vhost-user` served by `swiftdm vhost-user --net tap=NAME`, against QEMU's own
    /// userspace virtio-net on the tap (`-netdev tap,vhost=off`).
    case iperf3 = "linux-iperf3"

    /// The name `--scenario` takes.
    public var key: String { rawValue }

    /// The peer's short column name.
    public var peerLabel: String { self == .fio ? "qsd" : "QEMU" }

    /// What the peer is, in words.
    public var peerDescription: String {
        self == .fio ? "qemu-storage-daemon's vhost-user-blk export" : "QEMU's own virtio-net on the tap (-netdev tap,vhost=off)"
    }

    /// What swiftdm serves, in words.
    public var swiftdmDescription: String {
        self == .fio ? "swiftdm vhost-user --blk" : "swiftdm vhost-user --net tap=NAME (-netdev vhost-user)"
    }
}
