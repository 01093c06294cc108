import Display
@testable import DisplayOutputs
import Testing

struct VNCUpdateTests {
    @Test(arguments: [[Int32(0)], [16, 0]])
    func fullThenIncremental(encodings: [Int32]) throws {
        let f = try VNCFixture()
        let c = try f.connect()
        try c.handshake()
        try c.setEncodings(encodings)
        try c.requestUpdate(incremental: false)
        let first = try c.readUpdate()
        #expect(first == [ReceivedRectangle(x: 0, y: 0, width: 320, height: 240, encoding: encodings[0])])
        #expect(c.pixels == f.surfacePixels())

        // Nothing changed: an incremental request waits; a change answers it with that area.
        try c.requestUpdate(incremental: true)
        let patch = try PixelImage(width: 20, height: 10, format: .x8r8g8b8)
        patch.fill(patch.bounds, pixel: 0x00_12_34_56)
        f.display.primary.draw(from: patch, rect: patch.bounds, toX: 100, y: 50)
        let second = try c.readUpdate()
        #expect(!second.isEmpty)
        for r in second {
            #expect(r.encoding == encodings[0])
            #expect(DisplayRect(x: 96, y: 32, width: 32, height: 32).contains(DisplayRect(x: r.x, y: r.y, width: r.width, height: r.height)))
        }
        #expect(c.pixels == f.surfacePixels())
        #expect(c.pixels[55 * 320 + 110] == 0x12_34_56)
    }

    @Test func severalClientsAtOnce() throws {
        let f = try VNCFixture()
        let clients = try (0..<4).map { _ in try f.connect() }
        for (i, c) in clients.enumerated() {
            try c.handshake()
            try c.setEncodings(i % 2 == 0 ? [16, 0] : [0])
            try c.requestUpdate(incremental: false)
        }
        for c in clients { _ = try c.readUpdate() }
        for c in clients { try c.requestUpdate(incremental: true) }
        VNCFixture.drawPattern(on: f.display.primary, shift: 11)
        for c in clients {
            _ = try c.readUpdate()
            #expect(c.pixels == f.surfacePixels())
        }
    }

    @Test func darkThenModeSet() throws {
        let f = try VNCFixture(width: nil, height: nil)
        let c = try f.connect()
        try c.handshake()
        try c.setEncodings([16, -223])
        try c.requestUpdate(incremental: false)
        _ = try c.readUpdate()
        try f.display.primary.setMode(width: 320, height: 200)
        VNCFixture.drawPattern(on: f.display.primary)
        try c.requestUpdate(incremental: true)
        #expect(try c.readUpdate() == [ReceivedRectangle(x: 0, y: 0, width: 320, height: 200, encoding: -223)])
        try c.requestUpdate(incremental: true)
        _ = try c.readUpdate()
        #expect(c.pixels == f.surfacePixels())
        // Dark again: back to the black 640x480.
        f.display.primary.disable()
        try c.requestUpdate(incremental: true)
        #expect(try c.readUpdate() == [ReceivedRectangle(x: 0, y: 0, width: 640, height: 480, encoding: -223)])
        try c.requestUpdate(incremental: true)
        _ = try c.readUpdate()
        #expect(c.pixels.allSatisfy { $0 == 0 })
    }

    @Test func updatesOnlyWhenRequested() throws {
        let f = try VNCFixture()
        let c = try f.connect()
        try c.handshake()
        try c.requestUpdate(incremental: false)
        _ = try c.readUpdate()
        // Damage without a request: nothing arrives; the next request gets it all at once.
        for i in 0..<5 {
            let patch = try PixelImage(width: 8, height: 8, format: .x8r8g8b8)
            patch.fill(patch.bounds, pixel: 0x00_ff_00_00 | UInt32(i))
            f.display.primary.draw(from: patch, rect: patch.bounds, toX: i * 60, y: 100)
        }
        var pending = pollfd(fd: c.fd, events: Int16(POLLIN), revents: 0)
        #expect(poll(&pending, 1, 300) == 0)
        try c.requestUpdate(incremental: true)
        _ = try c.readUpdate()
        #expect(c.pixels == f.surfacePixels())
    }

    /// Every true-colour depth and byte order, Raw and ZRLE (3- and 4-byte CPIXELs).
    @Test(arguments: [
        RFBPixelFormat(bitsPerPixel: 32, depth: 24, bigEndian: false, trueColour: true, redMax: 255, greenMax: 255, blueMax: 255, redShift: 0, greenShift: 8, blueShift: 16),
        RFBPixelFormat(bitsPerPixel: 32, depth: 24, bigEndian: true, trueColour: true, redMax: 255, greenMax: 255, blueMax: 255, redShift: 16, greenShift: 8, blueShift: 0),
        RFBPixelFormat(bitsPerPixel: 32, depth: 24, bigEndian: false, trueColour: true, redMax: 255, greenMax: 255, blueMax: 255, redShift: 24, greenShift: 16, blueShift: 8),
        RFBPixelFormat(bitsPerPixel: 32, depth: 32, bigEndian: true, trueColour: true, redMax: 255, greenMax: 255, blueMax: 255, redShift: 8, greenShift: 16, blueShift: 24),
        RFBPixelFormat(bitsPerPixel: 16, depth: 16, bigEndian: false, trueColour: true, redMax: 31, greenMax: 63, blueMax: 31, redShift: 11, greenShift: 5, blueShift: 0),
        RFBPixelFormat(bitsPerPixel: 16, depth: 15, bigEndian: true, trueColour: true, redMax: 31, greenMax: 31, blueMax: 31, redShift: 10, greenShift: 5, blueShift: 0),
        RFBPixelFormat(bitsPerPixel: 8, depth: 8, bigEndian: false, trueColour: true, redMax: 7, greenMax: 7, blueMax: 3, redShift: 0, greenShift: 3, blueShift: 6),
    ], [Int32(0), 16])
    func pixelFormats(format: RFBPixelFormat, encoding: Int32) throws {
        let f = try VNCFixture()
        let c = try f.connect()
        try c.handshake()
        try c.setPixelFormat(format)
        try c.setEncodings([encoding])
        try c.requestUpdate(incremental: false)
        _ = try c.readUpdate()
        // What the surface's pixels become after the trip through `format` and back.
        let expected = f.surfacePixels().map { p -> UInt32 in
            var bytes: [UInt8] = []
            format.append(format.value(of: p), to: &bytes)
            return c.decodePixel(bytes)
        }
        #expect(c.pixels == expected)
        if format.redMax == 255 { #expect(c.pixels == f.surfacePixels()) }
    }

    @Test func colourMapFormatIsRefused() throws {
        let f = try VNCFixture()
        let c = try f.connect()
        try c.handshake()
        var map = RFBPixelFormat.native
        map.bitsPerPixel = 8
        map.trueColour = false
        try c.send([0, 0, 0, 0] + map.encoded)
        #expect(c.waitForClose())
    }

    @Test(arguments: [[Int32(1), 0], [1, 16, 0]])
    func copyRectAfterAScroll(encodings: [Int32]) throws {
        let f = try VNCFixture(width: 640, height: 400)
        let c = try f.connect()
        try c.handshake()
        try c.setEncodings(encodings)
        try c.requestUpdate(incremental: false)
        _ = try c.readUpdate()
        // Scroll up by 16 rows, as the console does for a new line, with a fresh bottom line.
        FixtureScroll.scroll(f.display.primary, by: 16)
        try c.requestUpdate(incremental: true)
        let rects = try c.readUpdate()
        let copies = rects.filter { $0.encoding == 1 }
        #expect(copies.count == 1)
        if let copy = copies.first {
            #expect(copy.x == 0 && copy.width == 640)
            #expect(copy.height >= 400 - 16 - 32)
        }
        // The rest: far less than the whole screen again.
        let sentPixels = rects.filter { $0.encoding != 1 }.reduce(0) { $0 + $1.width * $1.height }
        #expect(sentPixels <= 640 * 64)
        #expect(c.pixels == f.surfacePixels())
        print("BENCH: VNC scroll by 16 rows of 640x400: 1 CopyRect + \(sentPixels) pixels sent (of \(640 * 400))")
    }

    @Test func desktopSizeAfterSetMode() throws {
        let f = try VNCFixture()
        let c = try f.connect()
        try c.handshake()
        try c.setEncodings([0, -223])
        try c.requestUpdate(incremental: false)
        _ = try c.readUpdate()
        try f.display.primary.setMode(width: 400, height: 300)
        VNCFixture.drawPattern(on: f.display.primary, shift: 5)
        try c.requestUpdate(incremental: true)
        #expect(try c.readUpdate() == [ReceivedRectangle(x: 0, y: 0, width: 400, height: 300, encoding: -223)])
        #expect(c.width == 400 && c.height == 300)
        try c.requestUpdate(incremental: true)
        _ = try c.readUpdate()
        #expect(c.pixels == f.surfacePixels())
    }

    @Test func cursorPseudoEncoding() throws {
        let f = try VNCFixture()
        let image = try PixelImage(width: 10, height: 3, format: .a8r8g8b8)
        for x in 0..<10 {
            for y in 0..<3 { image.fill(DisplayRect(x: x, y: y, width: 1, height: 1), pixel: (x % 2 == 0 ? 0xff00_0000 : 0x1000_0000) | UInt32(x * 20 + y)) }
        }
        f.display.primary.setCursor(DisplayCursor(image: image, hotspotX: 4, hotspotY: 1))
        let c = try f.connect()
        try c.handshake()
        try c.setEncodings([0, -239])
        try c.requestUpdate(incremental: false)
        let rects = try c.readUpdate()
        #expect(rects.first == ReceivedRectangle(x: 4, y: 1, width: 10, height: 3, encoding: -239))
        let cursor = try #require(c.cursor)
        #expect(cursor.pixels == (0..<3).flatMap { y in (0..<10).map { x in UInt32(x * 20 + y) } })
        #expect(cursor.visible == (0..<30).map { $0 % 2 == 0 })

        // Moving the pointer sends nothing; a new image does.
        try c.requestUpdate(incremental: true)
        f.display.primary.moveCursor(x: 50, y: 60)
        var pending = pollfd(fd: c.fd, events: Int16(POLLIN), revents: 0)
        #expect(poll(&pending, 1, 300) == 0)
        f.display.primary.setCursor(DisplayCursor())
        #expect(try c.readUpdate() == [ReceivedRectangle(x: 0, y: 0, width: 0, height: 0, encoding: -239)])
    }

    /// A client without DesktopSize keeps its size and sees the new picture's top left part.
    @Test func resizeWithoutDesktopSizeIsClipped() throws {
        let f = try VNCFixture()
        let c = try f.connect()
        try c.handshake()
        try c.setEncodings([0])
        try c.requestUpdate(incremental: false)
        _ = try c.readUpdate()
        try f.display.primary.setMode(width: 200, height: 400)
        VNCFixture.drawPattern(on: f.display.primary, shift: 3)
        try c.requestUpdate(incremental: true)
        var rects = try c.readUpdate()
        // Damage may arrive in more than one update; ask until the picture settles.
        for _ in 0..<3 where c.pixels[239 * 320 + 199] != VNCFixture.patternPixel(199, 239 + 3) {
            try c.requestUpdate(incremental: false)
            rects = try c.readUpdate()
        }
        #expect(rects.allSatisfy { $0.encoding == 0 && $0.x + $0.width <= 320 && $0.y + $0.height <= 240 })
        #expect(c.width == 320 && c.height == 240)
        for y in 0..<240 {
            for x in 0..<320 {
                let want: UInt32 = x < 200 ? VNCFixture.patternPixel(x, y + 3) : 0
                if c.pixels[y * 320 + x] != want {
                    Issue.record("pixel (\(x), \(y)) is \(c.pixels[y * 320 + x]), expected \(want)")
                    return
                }
            }
        }
    }
}

enum FixtureScroll {
    /// Moves the picture up `rows` rows and draws a new pattern line at the bottom.
    static func scroll(_ surface: DisplaySurface, by rows: Int) {
        surface.update { image in
            image.withMutableBytes { b in
                let w = image.width
                for y in 0..<image.height - rows {
                    for x in 0..<w {
                        let v = b.load(fromByteOffset: (y + rows) * image.stride + x * 4, as: UInt32.self)
                        b.storeBytes(of: v, toByteOffset: y * image.stride + x * 4, as: UInt32.self)
                    }
                }
                for y in image.height - rows..<image.height {
                    for x in 0..<w { b.storeBytes(of: UInt32(0x00_80_80_00 | (x & 0xff)).littleEndian, toByteOffset: y * image.stride + x * 4, as: UInt32.self) }
                }
            }
            return image.bounds
        }
    }
}

import Glibc
