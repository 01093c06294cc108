import Display
@testable import DisplayOutputs
import Foundation
import Testing

struct ScreenshotTests {
    private func pattern(_ w: Int, _ h: Int) throws -> PixelImage {
        let image = try PixelImage(width: w, height: h, format: .x8r8g8b8)
        image.withMutableBytes { b in
            for y in 0..<h {
                for x in 0..<w {
                    // The X byte set too: it must not leak into the file.
                    b.storeBytes(of: (0xff00_0000 | VNCFixture.patternPixel(x, y)).littleEndian, toByteOffset: y * image.stride + x * 4, as: UInt32.self)
                }
            }
        }
        return image
    }

    private func expected(_ image: PixelImage) -> [UInt32] {
        (0..<image.height).flatMap { y in (0..<image.width).map { x in (image.pixel(x: x, y: y) ?? 0) & 0x00ff_ffff } }
    }

    @Test func pngRoundTrips() throws {
        let image = try pattern(333, 77)
        let path = NSTemporaryDirectory() + "swiftdm-shot-\(getpid()).png"
        defer { unlink(path) }
        try Screenshot.write(image, to: path)
        let png = try PNGReader(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        #expect(png.width == 333 && png.height == 77)
        #expect(png.pixels == expected(image))
    }

    @Test func pngFromAnotherFormat() throws {
        let image = try pattern(40, 30).converted(to: .b8g8r8x8)
        let png = try PNGReader(try Screenshot.encode(image, as: .png))
        #expect(png.pixels == expected(try image.converted(to: .x8r8g8b8)))
    }

    @Test func ppm() throws {
        let image = try pattern(5, 3)
        let path = NSTemporaryDirectory() + "swiftdm-shot-\(getpid()).PPM"
        defer { unlink(path) }
        try Screenshot.write(image, to: path)
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let header = Array("P6\n5 3\n255\n".utf8)
        #expect(Array(bytes.prefix(header.count)) == header)
        let body = Array(bytes.dropFirst(header.count))
        #expect(body.count == 5 * 3 * 3)
        var rgb: [UInt32] = []
        for i in stride(from: 0, to: body.count, by: 3) {
            let r = UInt32(body[i]), g = UInt32(body[i + 1]), b = UInt32(body[i + 2])
            rgb.append(r << 16 | g << 8 | b)
        }
        #expect(rgb == expected(image))
    }

    @Test func unknownExtensionAndUnwritablePath() throws {
        let image = try pattern(2, 2)
        #expect(throws: ScreenshotError.unsupportedFormat(path: "/tmp/shot.jpg")) { try Screenshot.write(image, to: "/tmp/shot.jpg") }
        #expect(throws: ScreenshotError.unsupportedFormat(path: "/tmp/shot")) { try Screenshot.write(image, to: "/tmp/shot") }
        #expect(throws: ScreenshotError.writeFailed(path: "/nonexistent/dir/shot.png", errno: ENOENT)) {
            try Screenshot.write(image, to: "/nonexistent/dir/shot.png")
        }
    }
}
