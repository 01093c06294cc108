import Display

/// The 2D resource formats of virtio-gpu (`VIRTIO_GPU_FORMAT_*`, §5.7.6.8) and the pixman
/// layout each is stored in.
enum VirtioGPUFormat {
    /// The pixman format for `format`, or nil for a format the device does not know.
    ///
    /// virtio-gpu names channels in memory byte order, pixman from the most significant byte
    /// of a 32-bit word; on a little-endian host the two read in opposite directions, so
    /// `B8G8R8A8` (B, G, R, A in memory) is pixman `a8r8g8b8`. This is the table of QEMU's
    /// `virtio_gpu_get_pixman_format` for little-endian hosts (`hw/display/virtio-gpu.c`).
    static func pixelFormat(_ format: UInt32) -> PixelFormat? {
        switch format {
        case 1: .a8r8g8b8    // B8G8R8A8_UNORM
        case 2: .x8r8g8b8    // B8G8R8X8_UNORM
        case 3: .b8g8r8a8    // A8R8G8B8_UNORM
        case 4: .b8g8r8x8    // X8R8G8B8_UNORM
        case 67: .a8b8g8r8   // R8G8B8A8_UNORM
        case 68: .r8g8b8x8   // X8B8G8R8_UNORM
        case 121: .r8g8b8a8  // A8B8G8R8_UNORM
        case 134: .x8b8g8r8  // R8G8B8X8_UNORM
        default: nil
        }
    }
}
