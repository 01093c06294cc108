import Display

/// The Cursor pseudo-encoding (RFC 6143 §7.8.1): the pointer's image, so the viewer draws it
/// locally without a round trip. The rectangle's position is the hotspot; its data the
/// pixels in the client's format, then a bitmask of the visible ones (rows padded to a byte,
/// most significant bit first). A hidden cursor is a 0 × 0 rectangle.
enum CursorEncoding {
    static let number: Int32 = -239
    /// Cursors larger than this on either side are not sent (the viewer keeps its own).
    static let maximumSide = 256

    /// Appends the pseudo-rectangle for `cursor` (its image `a8r8g8b8`; alpha of 128 or more
    /// counts as visible). Returns false, appending nothing, when the cursor is too large.
    static func append(_ cursor: DisplayCursor, format: RFBPixelFormat, to out: inout [UInt8]) -> Bool {
        guard let source = cursor.image else {
            ClientFramebuffer.appendRectangleHeader(DisplayRect(width: 0, height: 0), encoding: number, to: &out)
            return true
        }
        guard source.width <= maximumSide, source.height <= maximumSide,
              let image = source.format == .a8r8g8b8 ? source : try? source.converted(to: .a8r8g8b8) else { return false }
        let hotspot = DisplayRect(x: min(max(cursor.hotspotX, 0), image.width - 1), y: min(max(cursor.hotspotY, 0), image.height - 1),
                                  width: image.width, height: image.height)
        ClientFramebuffer.appendRectangleHeader(hotspot, encoding: number, to: &out)
        var mask: [UInt8] = []
        let rowBytes = (image.width + 7) / 8
        for y in 0..<image.height {
            var row = [UInt8](repeating: 0, count: rowBytes)
            for x in 0..<image.width {
                let p = image.pixel(x: x, y: y) ?? 0
                format.append(format.value(of: p), to: &out)
                if p >> 24 >= 0x80 { row[x / 8] |= 0x80 >> UInt8(x % 8) }
            }
            mask += row
        }
        out += mask
        return true
    }
}
