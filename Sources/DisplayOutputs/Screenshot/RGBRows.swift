import Display

/// An image's pixels as 8-bit R, G, B triples, a row at a time: what both screenshot formats
/// store. Any 32-bit format is converted to `x8r8g8b8` first, so alpha is dropped.
enum RGBRows {
    static func forEachRow(of image: PixelImage, _ body: ([UInt8]) -> Void) {
        let source = image.format == .x8r8g8b8 || image.format == .a8r8g8b8
            ? image : ((try? image.converted(to: .x8r8g8b8)) ?? image)
        var row = [UInt8](repeating: 0, count: source.width * 3)
        for y in 0..<source.height {
            source.withBytes { bytes in
                let line = bytes[(y * source.stride)...]
                var i = 0
                var p = line.startIndex
                for _ in 0..<source.width {
                    // x8r8g8b8 in memory: B, G, R, X.
                    row[i] = line[p + 2]
                    row[i + 1] = line[p + 1]
                    row[i + 2] = line[p]
                    i += 3
                    p += 4
                }
            }
            body(row)
        }
    }
}
