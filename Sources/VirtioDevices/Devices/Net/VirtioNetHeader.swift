/// `struct virtio_net_hdr_v1` (virtio 1.2 §5.1.6): 12 bytes before every frame.
///
/// The device passes it through between guest and tap untouched (checksum and GSO fields
/// mean the same to both), except `num_buffers`, which the device fills on receive.
public enum VirtioNetHeader {
    public static let size = 12
    /// Offset of `num_buffers` (le16).
    public static let numBuffersOffset = 10
    /// `VIRTIO_NET_HDR_F_NEEDS_CSUM`.
    public static let flagNeedsCsum: UInt8 = 1
    /// `VIRTIO_NET_HDR_F_DATA_VALID`.
    public static let flagDataValid: UInt8 = 2
}
