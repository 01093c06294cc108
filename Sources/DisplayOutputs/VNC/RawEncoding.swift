import Display

/// Raw encoding (RFC 6143 §7.7.1): the rectangle's pixels row by row in the client's format.
enum RawEncoding {
    static let number: Int32 = 0

    /// Appends the pixels of `rect` (inside `image`, an `x8r8g8b8` picture) to `out`.
    static func append(_ image: PixelImage, rect: DisplayRect, format: RFBPixelFormat, to out: inout [UInt8]) {
        out.reserveCapacity(out.count + rect.width * rect.height * format.bytesPerPixel)
        image.withBytes { bytes in
            if format.isNative {
                // The surface's bytes are already the client's pixels.
                for row in rect.y..<rect.maxY {
                    let start = row * image.stride + rect.x * 4
                    out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<start + rect.width * 4]))
                }
                return
            }
            for row in rect.y..<rect.maxY {
                let line = bytes.baseAddress! + row * image.stride
                for col in rect.x..<rect.maxX {
                    let p = UInt32(littleEndian: (line + col * 4).loadUnaligned(as: UInt32.self))
                    format.append(format.value(of: p), to: &out)
                }
            }
        }
    }
}
