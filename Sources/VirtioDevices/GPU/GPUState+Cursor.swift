import Display

/// The cursor queue's commands (§5.7.6.10), as QEMU's `update_cursor` handles them.
extension GPUState {
    /// The cursor image's side: QEMU's cursor is 64×64 and ignores other resources.
    static let cursorSide = 64

    /// `UPDATE_CURSOR` / `MOVE_CURSOR`: pos (scanout_id, x, y), resource_id, hot_x, hot_y.
    /// An unknown scanout is ignored. Update takes the image from a 64×64 resource
    /// (resource 0 hides the cursor; another size or an unknown resource keeps the old
    /// image, as QEMU does); move only moves.
    func cursor(_ q: GPURequestBytes) {
        let index = q.u32(24)
        guard index < scanouts.count else {
            logger.debug("virtio-gpu cursor: no scanout \(index)")
            return
        }
        let surface = surfaces[Int(index)]
        // Positions are signed in Linux (`crtc_x`), sent as their 32-bit pattern.
        let x = Int(Int32(bitPattern: q.u32(28))), y = Int(Int32(bitPattern: q.u32(32)))
        switch q.type {
        case VirtioGPUProtocol.cmdMoveCursor:
            surface.moveCursor(x: x, y: y)
        case VirtioGPUProtocol.cmdUpdateCursor:
            let id = q.u32(40)
            var image: PixelImage? = nil
            if id != 0 {
                image = surface.cursor.image
                if let resource = resources[id] {
                    if let copy = cursorImage(resource) { image = copy }
                } else {
                    logger.debug("virtio-gpu UPDATE_CURSOR: no resource \(id)")
                }
            }
            surface.setCursor(DisplayCursor(image: image, hotspotX: Int(q.u32(44)), hotspotY: Int(q.u32(48)), x: x, y: y))
        default:
            logger.debug("virtio-gpu cursor queue: unknown command 0x\(String(q.type, radix: 16))")
        }
    }

    /// The resource's pixels as an `a8r8g8b8` cursor, copied byte for byte as QEMU does
    /// (Linux makes cursors `B8G8R8A8`, which is that layout), or nil unless it is 64×64.
    private func cursorImage(_ resource: GPUResource) -> PixelImage? {
        guard resource.width == Self.cursorSide, resource.height == Self.cursorSide else {
            logger.debug("virtio-gpu UPDATE_CURSOR: resource \(resource.id) is \(resource.width)x\(resource.height), not 64x64")
            return nil
        }
        guard let image = try? PixelImage(width: Self.cursorSide, height: Self.cursorSide, format: .a8r8g8b8) else { return nil }
        resource.image.withBytes { source in
            image.withMutableBytes { target in target.copyMemory(from: source) }
        }
        return image
    }
}
