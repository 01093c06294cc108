import Display
import Synchronization
import Testing

@Suite struct DisplaySurfaceTests {
    @Test func imageRejectsSizesOutsideTheLimit() {
        #expect(throws: DisplayError.invalidSize(width: 0, height: 10)) { try PixelImage(width: 0, height: 10, format: .x8r8g8b8) }
        #expect(throws: DisplayError.invalidSize(width: 16385, height: 1)) { try PixelImage(width: 16385, height: 1, format: .x8r8g8b8) }
    }

    @Test func copyConvertsFormatsAndClips() throws {
        // x8b8g8r8 stores R in the low byte; the surface's x8r8g8b8 stores B there.
        let src = try PixelImage(width: 4, height: 4, format: .x8b8g8r8)
        src.fill(src.bounds, pixel: 0x0000_00ff) // red
        let dst = try PixelImage(width: 3, height: 3, format: .x8r8g8b8)
        let written = dst.copy(from: src, rect: DisplayRect(x: 0, y: 0, width: 4, height: 4), toX: 1, y: 1)
        #expect(written == DisplayRect(x: 1, y: 1, width: 2, height: 2))
        #expect(dst.pixel(x: 0, y: 0) == 0)
        #expect(dst.pixel(x: 2, y: 2).map { $0 & 0xffffff } == 0x00ff_0000)
        // A source rectangle hanging off the source's edge copies only what exists.
        let dst2 = try PixelImage(width: 8, height: 8, format: .x8r8g8b8)
        let w2 = dst2.copy(from: src, rect: DisplayRect(x: -2, y: -2, width: 4, height: 4), toX: 0, y: 0)
        #expect(w2 == DisplayRect(x: 2, y: 2, width: 2, height: 2))
    }

    @Test func surfaceReportsModeDamageAndCursor() throws {
        let surface = DisplaySurface()
        let seen = Mutex<[DisplaySurfaceChange]>([])
        let token = surface.addObserver { c in seen.withLock { $0.append(c) } }
        #expect(surface.snapshot() == nil)
        try surface.setMode(width: 64, height: 48)
        let src = try PixelImage(width: 16, height: 16, format: .x8r8g8b8)
        src.fill(src.bounds, pixel: 0x00ab_cdef)
        surface.draw(from: src, rect: src.bounds, toX: 60, y: 40)
        surface.moveCursor(x: 3, y: 4)
        surface.removeObserver(token)
        surface.disable()
        #expect(seen.withLock { $0 } == [.resized(width: 64, height: 48), .damaged(DisplayRect(x: 60, y: 40, width: 4, height: 8)), .cursor])
        #expect(surface.size == nil)
        // The picture from before the surface went dark stays available (screenshots at exit).
        let last = try #require(surface.lastShownSnapshot())
        #expect(last.wasDark && last.image.width == 64 && last.image.pixel(x: 60, y: 40).map { $0 & 0xffffff } == 0x00ab_cdef)
        try surface.setMode(width: 8, height: 8)
        #expect(surface.lastShownSnapshot()?.wasDark == false)
    }

    @Test func routerSendsEachKindWhereItBelongs() {
        final class Sink: InputEventSink, @unchecked Sendable {
            let inputKind: InputDeviceKind
            let got = Mutex<[InputEvent]>([])
            init(_ k: InputDeviceKind) { inputKind = k }
            func receive(_ events: [InputEvent]) { got.withLock { $0 += events } }
        }
        let router = InputRouter()
        let kbd = Sink(.keyboard), tablet = Sink(.tablet)
        router.attach(kbd)
        router.attach(tablet)
        router.send([.key(code: 30, pressed: true)])
        router.send([InputEvent.absolute(pixelX: 1023, pixelY: 0, width: 1024, height: 768), .button(.left, pressed: true)])
        #expect(kbd.got.withLock { $0 } == [.key(code: 30, pressed: true)])
        #expect(tablet.got.withLock { $0 } == [.absolute(x: 0x7fff, y: 0), .button(.left, pressed: true)])
    }
}
