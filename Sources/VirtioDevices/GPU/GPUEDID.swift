/// A 128-byte EDID 1.4 base block (VESA E-EDID) for one scanout, as `GET_EDID` returns it:
/// a digital sRGB display named "swiftdm" whose preferred (first) detailed timing is the
/// scanout's size at up to 60 Hz, with reduced blanking, at 100 dpi.
enum GPUEDID {
    static let blockSize = 128

    /// The block for a `width × height` scanout (both in 1...4095).
    static func block(width: Int, height: Int) -> [UInt8] {
        var e = [UInt8](repeating: 0, count: blockSize)
        // Header.
        e[0...7] = [0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00]
        // Manufacturer "SDM": three 5-bit letters ('A' = 1), big-endian.
        let letters = "SDM".utf8.map { UInt16($0 - 64) }
        let maker = letters[0] << 10 | letters[1] << 5 | letters[2]
        e[8] = UInt8(maker >> 8)
        e[9] = UInt8(maker & 0xFF)
        e[10] = 0x01  // product code 0x0001, little-endian
        e[16] = 1     // week 1
        e[17] = 34    // 2024 (year - 1990)
        e[18] = 1     // EDID 1.4
        e[19] = 4
        e[20] = 0xA5  // digital, 8 bits per colour, DisplayPort
        let widthMM = width * 254 / 1000, heightMM = height * 254 / 1000
        e[21] = UInt8(clamping: max(1, widthMM / 10))   // screen size in cm
        e[22] = UInt8(clamping: max(1, heightMM / 10))
        e[23] = 120   // gamma 2.2
        e[24] = 0x06  // sRGB default colour space; the first detailed timing is preferred
        // sRGB chromaticity, 10-bit fractions of 1024.
        let (rx, ry, gx, gy, bx, by, wx, wy) = (655, 338, 307, 614, 154, 61, 320, 337)
        e[25] = UInt8((rx & 3) << 6 | (ry & 3) << 4 | (gx & 3) << 2 | (gy & 3))
        e[26] = UInt8((bx & 3) << 6 | (by & 3) << 4 | (wx & 3) << 2 | (wy & 3))
        for (i, v) in [rx, ry, gx, gy, bx, by, wx, wy].enumerated() { e[27 + i] = UInt8(v >> 2) }
        // No established timings; standard timings unused (0x01 0x01).
        for i in stride(from: 38, to: 54, by: 2) { e[i] = 1; e[i + 1] = 1 }
        e[54..<72] = detailedTiming(width: width, height: height, widthMM: widthMM, heightMM: heightMM)[...]
        // Display product name.
        var name: [UInt8] = [0, 0, 0, 0xFC, 0] + Array("swiftdm".utf8) + [0x0A]
        name += [UInt8](repeating: 0x20, count: 18 - name.count)
        e[72..<90] = name[...]
        // Two dummy descriptors (tag 0x10).
        e[93] = 0x10
        e[111] = 0x10
        e[126] = 0  // no extension blocks
        let sum = e[0..<127].reduce(0) { ($0 + Int($1)) & 0xFF }
        e[127] = UInt8((256 - sum) & 0xFF)
        return e
    }

    /// An 18-byte detailed timing descriptor with CVT-style reduced blanking. The pixel clock
    /// is a 16-bit count of 10 kHz, so very large modes get a lower refresh rate.
    static func detailedTiming(width: Int, height: Int, widthMM: Int, heightMM: Int) -> [UInt8] {
        let hBlank = 160, hSyncOffset = 48, hSyncWidth = 32
        let vBlank = max(23, height / 20), vSyncOffset = 3, vSyncWidth = 5
        let clock = min(65535, (width + hBlank) * (height + vBlank) * 60 / 10_000)
        var d = [UInt8](repeating: 0, count: 18)
        d[0] = UInt8(clock & 0xFF)
        d[1] = UInt8(clock >> 8)
        d[2] = UInt8(width & 0xFF)
        d[3] = UInt8(hBlank & 0xFF)
        d[4] = UInt8((width >> 8) << 4 | (hBlank >> 8))
        d[5] = UInt8(height & 0xFF)
        d[6] = UInt8(vBlank & 0xFF)
        d[7] = UInt8((height >> 8) << 4 | (vBlank >> 8))
        d[8] = UInt8(hSyncOffset & 0xFF)
        d[9] = UInt8(hSyncWidth & 0xFF)
        d[10] = UInt8((vSyncOffset & 0xF) << 4 | (vSyncWidth & 0xF))
        d[11] = UInt8((hSyncOffset >> 8) << 6 | (hSyncWidth >> 8) << 4 | (vSyncOffset >> 4) << 2 | (vSyncWidth >> 4))
        d[12] = UInt8(widthMM & 0xFF)
        d[13] = UInt8(heightMM & 0xFF)
        d[14] = UInt8((widthMM >> 8) << 4 | (heightMM >> 8))
        d[17] = 0x1A  // digital separate sync, hsync +, vsync −
        return d
    }
}
