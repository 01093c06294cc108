import Display

/// A 2D resource (§5.7.6.8 `RESOURCE_CREATE_2D`): a host image the guest fills from its
/// backing pages with `TRANSFER_TO_HOST_2D` and shows on scanouts.
struct GPUResource {
    let id: UInt32
    /// The guest's `VIRTIO_GPU_FORMAT_*` (``VirtioGPUFormat``), kept for saved state.
    let format: UInt32
    let image: PixelImage
    /// Bytes charged against the host memory limit (QEMU's `calc_image_hostmem`).
    let hostMemory: Int
    /// The guest pages behind it, once attached.
    var backing: GPUBacking?
    /// The scanouts showing it.
    var scanouts: Set<Int> = []

    var width: Int { image.width }
    var height: Int { image.height }
    /// Bytes per row, in the image and in the guest's backing (QEMU uses the image stride for both).
    var stride: Int { image.stride }
}
