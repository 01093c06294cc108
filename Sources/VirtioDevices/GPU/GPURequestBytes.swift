/// The fixed part of a request as read from the chain, with little-endian field access.
/// Fields past the end read as zero: callers check ``count`` against the command's size first,
/// and a wrong check must not trap on guest data.
struct GPURequestBytes {
    let bytes: [UInt8]

    var count: Int { bytes.count }

    func u32(_ offset: Int) -> UInt32 {
        guard offset >= 0, offset + 4 <= bytes.count else { return 0 }
        var v: UInt32 = 0
        for i in (0..<4).reversed() { v = v << 8 | UInt32(bytes[offset + i]) }
        return v
    }

    func u64(_ offset: Int) -> UInt64 {
        UInt64(u32(offset)) | UInt64(u32(offset + 4)) << 32
    }

    /// `struct virtio_gpu_rect` at `offset`: x, y, width, height.
    func rect(_ offset: Int) -> GPURect {
        GPURect(x: u32(offset), y: u32(offset + 4), width: u32(offset + 8), height: u32(offset + 12))
    }

    // `struct virtio_gpu_ctrl_hdr`.
    var type: UInt32 { u32(0) }
    var flags: UInt32 { u32(4) }
    var fenceID: UInt64 { u64(8) }
    var contextID: UInt32 { u32(16) }
}
