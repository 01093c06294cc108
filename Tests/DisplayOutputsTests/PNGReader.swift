import CZlib

/// A small PNG reader for the tests (8-bit RGB and RGBA, no interlace): checks every chunk's
/// CRC and undoes all five row filters, so it reads our own files and Pillow's.
struct PNGReader {
    struct Failure: Error, CustomStringConvertible { var description: String }

    let width: Int
    let height: Int
    /// `0x00RRGGBB` per pixel, row by row.
    let pixels: [UInt32]

    init(_ data: [UInt8]) throws {
        guard data.starts(with: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) else { throw Failure(description: "no PNG signature") }
        var p = 8
        var idat: [UInt8] = []
        var header: [UInt8] = []
        var sawEnd = false
        func u32(_ i: Int) -> Int { Int(data[i]) << 24 | Int(data[i + 1]) << 16 | Int(data[i + 2]) << 8 | Int(data[i + 3]) }
        while p + 12 <= data.count {
            let length = u32(p)
            guard p + 12 + length <= data.count else { throw Failure(description: "chunk past the end") }
            let typeAndData = Array(data[p + 4..<p + 8 + length])
            let crc = typeAndData.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
            guard UInt32(truncatingIfNeeded: crc) == UInt32(u32(p + 8 + length)) else {
                throw Failure(description: "bad CRC on chunk \(String(decoding: typeAndData.prefix(4), as: UTF8.self))")
            }
            let type = String(decoding: typeAndData.prefix(4), as: UTF8.self)
            let body = Array(typeAndData.dropFirst(4))
            switch type {
            case "IHDR": header = body
            case "IDAT": idat += body
            case "IEND": sawEnd = true
            default: break
            }
            p += 12 + length
        }
        guard sawEnd, header.count == 13 else { throw Failure(description: "no IHDR or IEND") }
        width = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
        height = Int(header[4]) << 24 | Int(header[5]) << 16 | Int(header[6]) << 8 | Int(header[7])
        guard header[8] == 8, header[9] == 2 || header[9] == 6, header[12] == 0 else {
            throw Failure(description: "unsupported PNG: depth \(header[8]) colour type \(header[9]) interlace \(header[12])")
        }
        let channels = header[9] == 2 ? 3 : 4
        let rowBytes = width * channels
        var raw = [UInt8](repeating: 0, count: (rowBytes + 1) * height)
        var rawLength = uLongf(raw.count)
        let rc = raw.withUnsafeMutableBufferPointer { out in
            idat.withUnsafeBufferPointer { uncompress(out.baseAddress, &rawLength, $0.baseAddress, uLong($0.count)) }
        }
        guard rc == Z_OK, Int(rawLength) == raw.count else { throw Failure(description: "IDAT inflate \(rc), \(rawLength) bytes") }
        var previous = [UInt8](repeating: 0, count: rowBytes)
        var out: [UInt32] = []
        out.reserveCapacity(width * height)
        for y in 0..<height {
            let filter = raw[y * (rowBytes + 1)]
            var row = Array(raw[y * (rowBytes + 1) + 1..<(y + 1) * (rowBytes + 1)])
            for i in 0..<rowBytes {
                let a = i >= channels ? Int(row[i - channels]) : 0
                let b = Int(previous[i])
                let c = i >= channels ? Int(previous[i - channels]) : 0
                let predictor: Int
                switch filter {
                case 0: predictor = 0
                case 1: predictor = a
                case 2: predictor = b
                case 3: predictor = (a + b) / 2
                case 4:
                    let pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c)
                    predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c
                default: throw Failure(description: "filter \(filter)")
                }
                row[i] = UInt8(truncatingIfNeeded: Int(row[i]) + predictor)
            }
            for x in 0..<width {
                out.append(UInt32(row[x * channels]) << 16 | UInt32(row[x * channels + 1]) << 8 | UInt32(row[x * channels + 2]))
            }
            previous = row
        }
        pixels = out
    }
}
