import Display

/// Netpbm's binary pixmap (P6): a text header, then 8-bit R, G, B per pixel, top row first.
enum PPMEncoding {
    static func encode(_ image: PixelImage) -> [UInt8] {
        var out = Array("P6\n\(image.width) \(image.height)\n255\n".utf8)
        out.reserveCapacity(out.count + image.width * image.height * 3)
        RGBRows.forEachRow(of: image) { row in out.append(contentsOf: row) }
        return out
    }
}
