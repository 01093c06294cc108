/// A pixel format as RFB describes it (RFC 6143 §7.4): how many bits a pixel takes, its byte
/// order, and where red, green and blue sit in it. Only true-colour formats of 8, 16 or 32
/// bits are served; a client asking for anything else is closed (see ``validate()``).
struct RFBPixelFormat: Equatable, CustomStringConvertible {
    var bitsPerPixel: UInt8
    var depth: UInt8
    var bigEndian: Bool
    var trueColour: Bool
    var redMax: UInt16
    var greenMax: UInt16
    var blueMax: UInt16
    var redShift: UInt8
    var greenShift: UInt8
    var blueShift: UInt8

    /// What the server offers in ServerInit: the surfaces' own `x8r8g8b8`, so pixels go out
    /// as stored when the client keeps it.
    static let native = RFBPixelFormat(
        bitsPerPixel: 32, depth: 24, bigEndian: false, trueColour: true,
        redMax: 255, greenMax: 255, blueMax: 255, redShift: 16, greenShift: 8, blueShift: 0)

    /// The 16-byte wire form.
    var encoded: [UInt8] {
        [bitsPerPixel, depth, bigEndian ? 1 : 0, trueColour ? 1 : 0,
         UInt8(redMax >> 8), UInt8(redMax & 0xff), UInt8(greenMax >> 8), UInt8(greenMax & 0xff),
         UInt8(blueMax >> 8), UInt8(blueMax & 0xff), redShift, greenShift, blueShift, 0, 0, 0]
    }

    /// Reads the 16-byte wire form (no validation).
    init(wire b: ArraySlice<UInt8>) {
        let s = b.startIndex
        bitsPerPixel = b[s]
        depth = b[s + 1]
        bigEndian = b[s + 2] != 0
        trueColour = b[s + 3] != 0
        redMax = UInt16(b[s + 4]) << 8 | UInt16(b[s + 5])
        greenMax = UInt16(b[s + 6]) << 8 | UInt16(b[s + 7])
        blueMax = UInt16(b[s + 8]) << 8 | UInt16(b[s + 9])
        redShift = b[s + 10]
        greenShift = b[s + 11]
        blueShift = b[s + 12]
    }

    init(bitsPerPixel: UInt8, depth: UInt8, bigEndian: Bool, trueColour: Bool, redMax: UInt16, greenMax: UInt16,
         blueMax: UInt16, redShift: UInt8, greenShift: UInt8, blueShift: UInt8) {
        self.bitsPerPixel = bitsPerPixel
        self.depth = depth
        self.bigEndian = bigEndian
        self.trueColour = trueColour
        self.redMax = redMax
        self.greenMax = greenMax
        self.blueMax = blueMax
        self.redShift = redShift
        self.greenShift = greenShift
        self.blueShift = blueShift
    }

    var bytesPerPixel: Int { Int(bitsPerPixel) / 8 }

    /// Nil when the server can produce this format, else why not.
    func validate() -> String? {
        guard trueColour else { return "colour-map pixel formats are not supported (true-colour flag 0)" }
        guard [8, 16, 32].contains(bitsPerPixel) else { return "\(bitsPerPixel) bits per pixel is not 8, 16 or 32" }
        for (name, max, shift) in [("red", redMax, redShift), ("green", greenMax, greenShift), ("blue", blueMax, blueShift)] {
            guard max > 0 else { return "\(name) max is 0" }
            let bits = UInt8(16 - max.leadingZeroBitCount)
            guard Int(shift) + Int(bits) <= Int(bitsPerPixel) else {
                return "\(name) max \(max) shifted by \(shift) does not fit \(bitsPerPixel) bits"
            }
        }
        return nil
    }

    /// True when pixels can be copied from an `x8r8g8b8` surface unchanged.
    var isNative: Bool {
        bitsPerPixel == 32 && !bigEndian && redMax == 255 && greenMax == 255 && blueMax == 255
            && redShift == 16 && greenShift == 8 && blueShift == 0
    }

    /// The bits any colour can occupy.
    private var colourMask: UInt32 {
        UInt32(redMax) << UInt32(redShift) | UInt32(greenMax) << UInt32(greenShift) | UInt32(blueMax) << UInt32(blueShift)
    }

    /// ZRLE's compressed pixel (RFC 6143 §7.7.6): 3 bytes instead of 4 when a 32-bit pixel's
    /// colours fit its 3 low or 3 high bytes; which bytes go out is given as the offset of
    /// the first in the pixel as sent (byte order already applied).
    var compressedPixel: (size: Int, offset: Int) {
        guard bitsPerPixel == 32, depth <= 24 else { return (bytesPerPixel, 0) }
        let mask = colourMask
        if mask & 0xff00_0000 == 0 { return (3, bigEndian ? 1 : 0) }
        if mask & 0x0000_00ff == 0 { return (3, bigEndian ? 0 : 1) }
        return (4, 0)
    }

    /// The value of surface pixel `p` (`x8r8g8b8`) in this format, before byte ordering.
    @inline(__always)
    func value(of p: UInt32) -> UInt32 {
        let r = (p >> 16) & 0xff, g = (p >> 8) & 0xff, b = p & 0xff
        // Scale 0...255 onto 0...max, rounding (exact for max 255, plain truncation for 2^n-1
        // would darken whites of 5-bit channels).
        let rv = (r * UInt32(redMax) + 127) / 255
        let gv = (g * UInt32(greenMax) + 127) / 255
        let bv = (b * UInt32(blueMax) + 127) / 255
        return rv << UInt32(redShift) | gv << UInt32(greenShift) | bv << UInt32(blueShift)
    }

    /// Appends `value` as `bytesPerPixel` bytes in this format's byte order.
    @inline(__always)
    func append(_ value: UInt32, to out: inout [UInt8]) {
        switch bitsPerPixel {
        case 8: out.append(UInt8(truncatingIfNeeded: value))
        case 16:
            let v = UInt16(truncatingIfNeeded: value)
            if bigEndian { out.append(UInt8(v >> 8)); out.append(UInt8(v & 0xff)) } else { out.append(UInt8(v & 0xff)); out.append(UInt8(v >> 8)) }
        default:
            if bigEndian {
                out.append(UInt8(truncatingIfNeeded: value >> 24)); out.append(UInt8(truncatingIfNeeded: value >> 16))
                out.append(UInt8(truncatingIfNeeded: value >> 8)); out.append(UInt8(truncatingIfNeeded: value))
            } else {
                out.append(UInt8(truncatingIfNeeded: value)); out.append(UInt8(truncatingIfNeeded: value >> 8))
                out.append(UInt8(truncatingIfNeeded: value >> 16)); out.append(UInt8(truncatingIfNeeded: value >> 24))
            }
        }
    }

    var description: String {
        "\(bitsPerPixel)bpp depth \(depth) \(bigEndian ? "BE" : "LE") \(trueColour ? "true-colour" : "colour-map") "
            + "max \(redMax)/\(greenMax)/\(blueMax) shift \(redShift)/\(greenShift)/\(blueShift)"
    }
}
