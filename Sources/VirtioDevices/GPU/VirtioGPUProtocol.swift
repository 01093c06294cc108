/// The wire values of virtio-gpu (virtio 1.2 §5.7.6, Linux `include/uapi/linux/virtio_gpu.h`).
/// All fields are little-endian.
enum VirtioGPUProtocol {
    // MARK: Feature bits (§5.7.3)

    /// `VIRTIO_GPU_F_EDID` (1): the device answers `GET_EDID`.
    static let featureEDID: UInt64 = 1 << 1

    // MARK: Configuration space (§5.7.4)

    /// `VIRTIO_GPU_EVENT_DISPLAY`: the display configuration changed.
    static let eventDisplay: UInt32 = 1

    // MARK: Queues (§5.7.2)

    static let controlQueue = 0
    static let cursorQueue = 1

    // MARK: Commands (§5.7.6.7)

    static let cmdGetDisplayInfo: UInt32 = 0x0100
    static let cmdResourceCreate2D: UInt32 = 0x0101
    static let cmdResourceUnref: UInt32 = 0x0102
    static let cmdSetScanout: UInt32 = 0x0103
    static let cmdResourceFlush: UInt32 = 0x0104
    static let cmdTransferToHost2D: UInt32 = 0x0105
    static let cmdResourceAttachBacking: UInt32 = 0x0106
    static let cmdResourceDetachBacking: UInt32 = 0x0107
    static let cmdGetEDID: UInt32 = 0x010A
    static let cmdUpdateCursor: UInt32 = 0x0300
    static let cmdMoveCursor: UInt32 = 0x0301

    /// `VIRTIO_GPU_FLAG_FENCE`: the driver wants the fence echoed in the response.
    static let flagFence: UInt32 = 1

    // MARK: Request sizes (the C structs, header included)

    static let headerSize = 24
    static let rectSize = 16
    static let getEDIDSize = 32
    static let resourceCreate2DSize = 40
    static let resourceUnrefSize = 32
    static let setScanoutSize = 48
    static let resourceFlushSize = 48
    static let transferToHost2DSize = 56
    static let attachBackingSize = 32
    static let memEntrySize = 16
    static let detachBackingSize = 32
    static let updateCursorSize = 56

    /// QEMU's bound on `nr_entries` of `RESOURCE_ATTACH_BACKING` (`virtio_gpu_create_mapping_iov`).
    static let maximumBackingEntries = 16384

    // MARK: Responses

    /// `struct virtio_gpu_resp_display_info`: header and 16 `virtio_gpu_display_one` of 24 bytes.
    static let maximumScanouts = 16
    static let displayInfoResponseSize = headerSize + maximumScanouts * 24
    /// `struct virtio_gpu_resp_edid`: header, `size`, `padding`, 1024 bytes of EDID.
    static let edidResponseSize = headerSize + 8 + 1024
}
