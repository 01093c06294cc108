import CZlib
import Display

/// ZRLE encoding (RFC 6143 §7.7.6): the rectangle in 64×64 tiles, each sent as raw, solid,
/// packed-palette, plain-RLE or palette-RLE pixels (whichever is smallest), all through one
/// zlib stream per client that lives as long as the connection.
final class ZRLEEncoding {
    static let number: Int32 = 16
    static let tileSize = 64
    static let tilePixels = tileSize * tileSize
    /// The most bytes one tile can take: its subencoding byte and raw 4-byte pixels (the
    /// other forms are only chosen when smaller).
    static let maximumTileBytes = 1 + tilePixels * 4

    private let stream: DeflateStream
    /// The tile's pixels in the client's format (colour bits only).
    private let tile = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: tilePixels)
    /// Uncompressed tile data for one row of tiles.
    private var plain: [UInt8] = []
    private let palette = TilePalette()

    init() throws(DeflateError) {
        // Level 1: ZRLE's own run-length and palette coding already removed most redundancy;
        // higher levels cost far more CPU for a few per cent.
        stream = try DeflateStream(level: 1)
    }

    deinit { tile.deallocate() }

    /// Appends the encoded `rect` of `image` (`x8r8g8b8`): a 4-byte big-endian length, then
    /// the zlib data, flushed so the client can decode it now.
    func append(_ image: PixelImage, rect: DisplayRect, format: RFBPixelFormat, to out: inout [UInt8]) throws(DeflateError) {
        let writer = CPixelWriter(format)
        let tilesAcross = (rect.width + Self.tileSize - 1) / Self.tileSize
        // One row of tiles at a time, deflated as it is done: memory stays at one row's worst
        // case whatever the rectangle's height.
        let rowCapacity = tilesAcross * Self.maximumTileBytes
        if plain.count < rowCapacity { plain = [UInt8](repeating: 0, count: rowCapacity) }
        let lengthAt = out.count
        out.append(contentsOf: [0, 0, 0, 0])
        var failure: DeflateError?
        image.withBytes { bytes in
            plain.withUnsafeMutableBufferPointer { buffer in
                guard let base = bytes.baseAddress, let rowBase = buffer.baseAddress else { return }
                var ty = rect.y
                while ty < rect.maxY && failure == nil {
                    let th = min(Self.tileSize, rect.maxY - ty)
                    var used = 0
                    var tx = rect.x
                    while tx < rect.maxX {
                        let tw = min(Self.tileSize, rect.maxX - tx)
                        loadTile(base, stride: image.stride, x: tx, y: ty, width: tw, height: th, format: format)
                        used += Self.encodeTile(UnsafeBufferPointer(rebasing: tile[0..<tw * th]), width: tw, height: th,
                                                writer: writer, palette: palette, to: rowBase + used)
                        tx += Self.tileSize
                    }
                    ty += Self.tileSize
                    // The last row flushes: the client decodes the rectangle without waiting
                    // for the next one.
                    let flush = ty < rect.maxY ? Z_NO_FLUSH : Z_SYNC_FLUSH
                    do throws(DeflateError) {
                        try stream.compress(UnsafeRawBufferPointer(start: rowBase, count: used), flush: flush, into: &out)
                    } catch { failure = error }
                }
            }
        }
        if let failure { throw failure }
        let length = UInt32(out.count - lengthAt - 4)
        out[lengthAt] = UInt8(length >> 24)
        out[lengthAt + 1] = UInt8(length >> 16 & 0xff)
        out[lengthAt + 2] = UInt8(length >> 8 & 0xff)
        out[lengthAt + 3] = UInt8(length & 0xff)
    }

    private func loadTile(_ base: UnsafeRawPointer, stride: Int, x: Int, y: Int, width: Int, height: Int,
                          format: RFBPixelFormat) {
        let native = format.isNative
        var i = 0
        for row in y..<y + height {
            let line = (base + row * stride + x * 4).assumingMemoryBound(to: UInt32.self)
            for col in 0..<width {
                let p = UInt32(littleEndian: line[col])
                // The X byte is whatever the device left there: never part of a colour.
                tile[i] = native ? p & 0x00ff_ffff : format.value(of: p)
                i += 1
            }
        }
    }

    /// Bytes a run length takes: (length - 1) as 255s and a final byte below 255.
    @inline(__always)
    private static func runLengthBytes(_ length: Int) -> Int { (length - 1) / 255 + 1 }

    @inline(__always)
    private static func writeRunLength(_ length: Int, to out: UnsafeMutablePointer<UInt8>, at n: inout Int) {
        var rest = length - 1
        while rest >= 255 {
            out[n] = 255
            n += 1
            rest -= 255
        }
        out[n] = UInt8(rest)
        n += 1
    }

    /// Encodes one tile at `out`; returns the bytes written.
    private static func encodeTile(_ t: UnsafeBufferPointer<UInt32>, width: Int, height: Int, writer: CPixelWriter,
                                   palette: TilePalette, to out: UnsafeMutablePointer<UInt8>) -> Int {
        let count = t.count
        let cp = writer.size
        // One pass: the palette (up to 127 colours), the runs, and what each RLE form would cost.
        palette.reset()
        var plainRLE = 0
        var paletteRLE = 0
        var i = 0
        while i < count {
            let v = t[i]
            var j = i + 1
            while j < count && t[j] == v { j += 1 }
            let length = j - i
            plainRLE += cp + runLengthBytes(length)
            paletteRLE += length == 1 ? 1 : 1 + runLengthBytes(length)
            if !palette.overflowed { _ = palette.index(of: v) }
            i = j
        }
        var n = 0
        let colours = palette.count
        if colours == 1 && !palette.overflowed {
            out[0] = 1
            n = 1
            writer.write(t[0], to: out, at: &n)
            return n
        }
        var best = (kind: 0, size: count * cp)
        if plainRLE < best.size { best = (128, plainRLE) }
        let bits = colours == 2 ? 1 : colours <= 4 ? 2 : 4
        if !palette.overflowed {
            let paletteSize = colours * cp
            if paletteRLE + paletteSize < best.size { best = (128 + colours, paletteRLE + paletteSize) }
            if colours <= 16 {
                let packed = paletteSize + height * ((width * bits + 7) / 8)
                if packed < best.size { best = (colours, packed) }
            }
        }
        out[0] = UInt8(best.kind)
        n = 1
        switch best.kind {
        case 0:
            for k in 0..<count { writer.write(t[k], to: out, at: &n) }
        case 128:
            var i = 0
            while i < count {
                let v = t[i]
                var j = i + 1
                while j < count && t[j] == v { j += 1 }
                writer.write(v, to: out, at: &n)
                writeRunLength(j - i, to: out, at: &n)
                i = j
            }
        case 2...16:
            for c in 0..<colours { writer.write(palette.colour(c), to: out, at: &n) }
            // Each row starts on a byte; indices go in from the most significant bit.
            for row in 0..<height {
                var byte: UInt8 = 0
                var filled = 0
                for col in 0..<width {
                    byte = byte << UInt8(bits) | UInt8(truncatingIfNeeded: palette.index(of: t[row * width + col]) ?? 0)
                    filled += bits
                    if filled == 8 {
                        out[n] = byte
                        n += 1
                        byte = 0
                        filled = 0
                    }
                }
                if filled > 0 {
                    out[n] = byte << UInt8(8 - filled)
                    n += 1
                }
            }
        default:
            for c in 0..<colours { writer.write(palette.colour(c), to: out, at: &n) }
            var i = 0
            while i < count {
                let v = t[i]
                var j = i + 1
                while j < count && t[j] == v { j += 1 }
                let index = UInt8(truncatingIfNeeded: palette.index(of: v) ?? 0)
                if j - i == 1 {
                    out[n] = index
                    n += 1
                } else {
                    out[n] = index | 0x80
                    n += 1
                    writeRunLength(j - i, to: out, at: &n)
                }
                i = j
            }
        }
        return n
    }
}

/// Writes ZRLE's CPIXELs for one pixel format: the pixel's bytes in its byte order, of which
/// the 3 holding the colours when the format allows (RFC 6143 §7.7.6).
struct CPixelWriter {
    let size: Int
    private let shifts: (UInt32, UInt32, UInt32, UInt32)

    init(_ format: RFBPixelFormat) {
        let (size, offset) = format.compressedPixel
        let bytes = format.bytesPerPixel
        // Shift of each byte as sent: little-endian sends the low byte first.
        var s: [UInt32] = (0..<bytes).map { k in UInt32(format.bigEndian ? 8 * (bytes - 1 - k) : 8 * k) }
        s = Array(s[offset..<offset + size]) + [0, 0, 0, 0]
        self.size = size
        shifts = (s[0], s[1], s[2], s[3])
    }

    @inline(__always)
    func write(_ v: UInt32, to out: UnsafeMutablePointer<UInt8>, at n: inout Int) {
        out[n] = UInt8(truncatingIfNeeded: v >> shifts.0)
        if size > 1 { out[n + 1] = UInt8(truncatingIfNeeded: v >> shifts.1) }
        if size > 2 { out[n + 2] = UInt8(truncatingIfNeeded: v >> shifts.2) }
        if size > 3 { out[n + 3] = UInt8(truncatingIfNeeded: v >> shifts.3) }
        n += size
    }
}

/// A tile's colours in first-seen order, up to ZRLE's palette-RLE limit of 127, with a small
/// open-addressing table for lookups.
final class TilePalette {
    static let limit = 127
    private static let slotCount = 256
    private(set) var count = 0
    private(set) var overflowed = false
    private let colours = UnsafeMutablePointer<UInt32>.allocate(capacity: limit)
    private let keys = UnsafeMutablePointer<UInt32>.allocate(capacity: slotCount)
    private let slots = UnsafeMutablePointer<Int16>.allocate(capacity: slotCount)
    private let usedSlots = UnsafeMutablePointer<Int>.allocate(capacity: limit)

    init() { slots.initialize(repeating: -1, count: Self.slotCount) }

    deinit {
        colours.deallocate()
        keys.deallocate()
        slots.deallocate()
        usedSlots.deallocate()
    }

    func colour(_ i: Int) -> UInt32 { colours[i] }

    func reset() {
        for i in 0..<count { slots[usedSlots[i]] = -1 }
        count = 0
        overflowed = false
    }

    /// The colour's index, adding it when new; nil once more than ``limit`` colours were seen.
    @inline(__always)
    func index(of v: UInt32) -> Int? {
        var s = Int((v &* 0x9E37_79B1) >> 24)
        while slots[s] >= 0 {
            if keys[s] == v { return Int(slots[s]) }
            s = (s + 1) & (Self.slotCount - 1)
        }
        guard count < Self.limit else {
            overflowed = true
            return nil
        }
        keys[s] = v
        slots[s] = Int16(count)
        usedSlots[count] = s
        colours[count] = v
        count += 1
        return count - 1
    }
}
