/// A hardware cursor as a device defines it (virtio-gpu's cursor queue): an image with its
/// hotspot, and where the pointer is on the surface. Outputs draw it or send it to their
/// client; screenshots leave it out, as QEMU's `screendump` does.
public struct DisplayCursor: Sendable {
    /// The cursor's pixels (`a8r8g8b8`), or nil when it is hidden.
    public var image: PixelImage?
    public var hotspotX: Int
    public var hotspotY: Int
    /// The pointer's position on the surface.
    public var x: Int
    public var y: Int

    public init(image: PixelImage? = nil, hotspotX: Int = 0, hotspotY: Int = 0, x: Int = 0, y: Int = 0) {
        self.image = image
        self.hotspotX = hotspotX
        self.hotspotY = hotspotY
        self.x = x
        self.y = y
    }
}
