import CZlib
import Display

/// PNG (ISO/IEC 15948): signature, IHDR (8-bit RGB, no interlace), one IDAT of the rows each
/// behind filter byte 0 (none) deflated with zlib, IEND; every chunk with its CRC-32.
enum PNGEncoding {
    static let signature: [UInt8] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]

    static func encode(_ image: PixelImage) throws(DeflateError) -> [UInt8] {
        var out = signature
        var header: [UInt8] = []
        appendU32(UInt32(image.width), to: &header)
        appendU32(UInt32(image.height), to: &header)
        // Bit depth 8, colour type 2 (RGB), compression 0, filter 0, interlace 0.
        header += [8, 2, 0, 0, 0]
        appendChunk("IHDR", header, to: &out)

        let stream = try DeflateStream(level: 6)
        var compressed: [UInt8] = []
        var failure: DeflateError?
        RGBRows.forEachRow(of: image) { row in
            guard failure == nil else { return }
            do throws(DeflateError) {
                try stream.compress([0] + row, flush: Z_NO_FLUSH, into: &compressed)
            } catch { failure = error }
        }
        if let failure { throw failure }
        try stream.compress([], flush: Z_FINISH, into: &compressed)
        appendChunk("IDAT", compressed, to: &out)
        appendChunk("IEND", [], to: &out)
        return out
    }

    private static func appendChunk(_ type: String, _ data: [UInt8], to out: inout [UInt8]) {
        appendU32(UInt32(data.count), to: &out)
        let typeAndData = Array(type.utf8) + data
        out += typeAndData
        // The CRC covers the type and the data, not the length.
        let crc = typeAndData.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
        appendU32(UInt32(truncatingIfNeeded: crc), to: &out)
    }

    private static func appendU32(_ v: UInt32, to out: inout [UInt8]) {
        out += [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)]
    }
}
