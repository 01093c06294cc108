import Display
@testable import DisplayOutputs
import Testing

struct DirtyTilesTests {
    @Test func marksClipsAndMergesIntoRectangles() {
        var d = DirtyTiles(width: 100, height: 70)  // 4 x 3 tiles, the last column and row partial
        #expect(d.isEmpty)
        d.mark(DisplayRect(x: 5, y: 5, width: 40, height: 40))  // tiles (0...1, 0...1)
        d.mark(DisplayRect(x: 97, y: 65, width: 50, height: 50))  // tile (3, 2), clipped
        #expect(d.count == 5)
        let all = DisplayRect(width: 100, height: 70)
        #expect(d.rectangles(within: all) == [
            DisplayRect(x: 0, y: 0, width: 64, height: 64),
            DisplayRect(x: 96, y: 64, width: 4, height: 6),
        ])
        #expect(d.bounds(within: all) == all.intersection(DisplayRect(x: 0, y: 0, width: 100, height: 70)))
        #expect(d.intersects(DisplayRect(x: 63, y: 63, width: 1, height: 1)))
        #expect(!d.intersects(DisplayRect(x: 64, y: 0, width: 30, height: 60)))
        // Clearing a rectangle cleans only the tiles wholly inside it.
        d.clear(inside: DisplayRect(x: 0, y: 0, width: 40, height: 64))
        #expect(d.rectangles(within: all) == [
            DisplayRect(x: 32, y: 0, width: 32, height: 64),
            DisplayRect(x: 96, y: 64, width: 4, height: 6),
        ])
    }

    @Test func scrollDetectorFindsTheMove() throws {
        let old = try PixelImage(width: 64, height: 200, format: .x8r8g8b8)
        let new = try PixelImage(width: 64, height: 200, format: .x8r8g8b8)
        for y in 0..<200 {
            // Text-like rows with blank ones in between (blank rows must not confuse it).
            let v: UInt32 = y % 4 == 3 ? 0 : UInt32(y * 7919)
            old.fill(DisplayRect(x: 0, y: y, width: 64, height: 1), pixel: v)
            if y >= 12 { new.fill(DisplayRect(x: 0, y: y - 12, width: 64, height: 1), pixel: v) }
        }
        let scroll = ScrollDetector.detect(old: old, new: new, area: old.bounds)
        #expect(scroll == ScrollDetector.Scroll(offset: 12, rows: 0..<188))
        ScrollDetector.apply(try #require(scroll), columns: 0..<64, to: old)
        for y in 0..<188 { #expect(old.pixel(x: 10, y: y) == new.pixel(x: 10, y: y)) }
        // Nothing moved: no scroll.
        #expect(ScrollDetector.detect(old: new, new: new, area: new.bounds) == nil)
    }
}
