/// The two sides a real-Linux round boots, one after the other: a guest whose devices swiftdm
/// serves, and the same guest on the peers (qemu-storage-daemon, QEMU's own virtio-net).
public enum GuestBenchSide: String, Sendable, CaseIterable {
    case swiftdm
    case peer
}
