import Display
import Glibc

/// One client's side of the picture: what its framebuffer holds (a copy of everything sent
/// to it), which parts may be out of date, and the FramebufferUpdate messages that bring it
/// up to date (RFC 6143 §7.6.1). Owned by the server thread.
///
/// A client that cannot resize (no DesktopSize in its encodings) keeps the size it was given
/// at ServerInit: after a mode change it sees the new picture's top left part, with black
/// where the new picture is smaller.
final class ClientFramebuffer {
    private(set) var width: Int
    private(set) var height: Int
    /// What the client shows: updated exactly as the client will update its own copy.
    private var shadow: PixelImage
    private var dirty: DirtyTiles
    /// The frame cut or padded to this client's size, when the sizes differ.
    private var fitted: PixelImage?
    /// A DesktopSize rectangle is owed to the client.
    private var owesDesktopSize = false
    /// The next update sends everything requested, changed or not.
    private var owesFullUpdate = false
    /// The cursor's image changed since the client last got it.
    private var owesCursor = false

    /// More rectangles than this in one update go as their bounding box instead.
    static let maximumRectangles = 1024

    init(width: Int, height: Int) throws(DisplayError) {
        self.width = width
        self.height = height
        shadow = try PixelImage(width: width, height: height, format: DisplaySurface.format)
        dirty = DirtyTiles(width: width, height: height)
    }

    var bounds: DisplayRect { DisplayRect(width: width, height: height) }

    /// Marks `rect` (frame coordinates, the same as the client's) possibly changed.
    func markDamaged(_ rect: DisplayRect) { dirty.mark(rect) }

    /// The picture changed size. A client that can follow gets a DesktopSize rectangle and
    /// then the whole new picture; others keep their size and get what changed in it.
    func frameResized(width newWidth: Int, height newHeight: Int, clientCanResize: Bool) throws(DisplayError) {
        if clientCanResize && (newWidth != width || newHeight != height) {
            shadow = try PixelImage(width: newWidth, height: newHeight, format: DisplaySurface.format)
            width = newWidth
            height = newHeight
            dirty = DirtyTiles(width: width, height: height)
            fitted = nil
            owesDesktopSize = true
            owesFullUpdate = true
        }
        dirty.markAll()
    }

    /// The cursor's image or hotspot changed (or the client just asked for cursor updates).
    func cursorChanged() { owesCursor = true }

    /// True when an update answering `request` would have something to say.
    func hasUpdate(for request: DisplayRect, incremental: Bool, encodings: RFBEncodings) -> Bool {
        owesDesktopSize || owesFullUpdate || !incremental || (owesCursor && encodings.cursor) || dirty.intersects(request)
    }

    /// The next FramebufferUpdate message for `request` (already clipped by the caller or
    /// not), or nil when an incremental request finds nothing changed.
    func update(from frame: PixelImage, cursor: DisplayCursor, request: DisplayRect, incremental: Bool,
                format: RFBPixelFormat, encodings: RFBEncodings, zrle: ZRLEEncoding?) throws(DeflateError) -> [UInt8]? {
        if owesDesktopSize {
            // Alone in its update: what follows is in the new size, and clients differ in
            // whether they resize before reading the rest of a message.
            owesDesktopSize = false
            var message = Self.header(rectangles: 1)
            Self.appendRectangleHeader(DisplayRect(width: width, height: height), encoding: RFBEncodings.desktopSize, to: &message)
            return message
        }
        let source = fit(frame)
        let full = !incremental || owesFullUpdate
        let clip = owesFullUpdate ? bounds : request.intersection(bounds)
        owesFullUpdate = false
        var body: [UInt8] = []
        var count = 0
        if owesCursor && encodings.cursor {
            owesCursor = false
            if CursorEncoding.append(cursor, format: format, to: &body) { count += 1 }
        }
        var rectangles: [DisplayRect]
        if full {
            rectangles = clip.isEmpty ? [] : [clip]
        } else {
            if encodings.copyRect, let copy = scroll(source: source, clip: clip) {
                body += copy
                count += 1
            }
            dropUnchangedTiles(source: source, clip: clip)
            rectangles = dirty.rectangles(within: clip)
            if rectangles.count > Self.maximumRectangles {
                rectangles = [rectangles.reduce(DisplayRect(width: 0, height: 0)) { $0.union($1) }]
            }
        }
        guard count > 0 || !rectangles.isEmpty else { return nil }
        for r in rectangles {
            switch (encodings.pixels, zrle) {
            case (.zrle, let zrle?):
                Self.appendRectangleHeader(r, encoding: ZRLEEncoding.number, to: &body)
                try zrle.append(source, rect: r, format: format, to: &body)
            default:
                Self.appendRectangleHeader(r, encoding: RawEncoding.number, to: &body)
                RawEncoding.append(source, rect: r, format: format, to: &body)
            }
            shadow.copy(from: source, rect: r, toX: r.x, y: r.y)
        }
        dirty.clear(inside: clip)
        return Self.header(rectangles: count + rectangles.count) + body
    }

    /// A CopyRect for a vertical scroll of the dirty area, applied to the shadow; the area
    /// stays dirty so what the copy did not cover is compared and sent.
    private func scroll(source: PixelImage, clip: DisplayRect) -> [UInt8]? {
        let area = dirty.bounds(within: clip)
        guard area.height >= ScrollDetector.minimumRows * 2, area.width * 2 >= width,
              let s = ScrollDetector.detect(old: shadow, new: source, area: area) else { return nil }
        let destination = DisplayRect(x: area.x, y: s.rows.lowerBound, width: area.width, height: s.rows.count)
        var bytes: [UInt8] = []
        Self.appendRectangleHeader(destination, encoding: RFBEncodings.copyRect, to: &bytes)
        Self.appendU16(area.x, to: &bytes)
        Self.appendU16(s.rows.lowerBound + s.offset, to: &bytes)
        ScrollDetector.apply(s, columns: area.x..<area.maxX, to: shadow)
        dirty.mark(area)
        return bytes
    }

    /// Cleans dirty tiles inside `clip` whose pixels the client already has.
    private func dropUnchangedTiles(source: PixelImage, clip: DisplayRect) {
        source.withBytes { new in
            shadow.withBytes { old in
                guard let n = new.baseAddress, let o = old.baseAddress else { return }
                for row in 0..<dirty.rows {
                    for col in 0..<dirty.columns where dirty.isDirty(column: col, row: row) {
                        let t = dirty.tileRect(column: col, row: row)
                        guard clip.contains(t) else { continue }
                        var same = true
                        for y in t.y..<t.maxY where same {
                            let offset = y * source.stride + t.x * 4
                            same = memcmp(n + offset, o + offset, t.width * 4) == 0
                        }
                        if same { dirty.set(column: col, row: row, false) }
                    }
                }
            }
        }
    }

    /// `frame` itself when it has the client's size, else a copy cut or padded (black) to it.
    private func fit(_ frame: PixelImage) -> PixelImage {
        guard frame.width != width || frame.height != height else { return frame }
        // Allocation of the client's current size succeeded once already (the shadow).
        if fitted == nil { fitted = try? PixelImage(width: width, height: height, format: DisplaySurface.format) }
        guard let fitted else { return shadow }
        fitted.fill(fitted.bounds, pixel: 0)
        fitted.copy(from: frame, rect: frame.bounds, toX: 0, y: 0)
        return fitted
    }

    static func header(rectangles: Int) -> [UInt8] {
        [0, 0, UInt8(rectangles >> 8 & 0xff), UInt8(rectangles & 0xff)]
    }

    static func appendRectangleHeader(_ r: DisplayRect, encoding: Int32, to out: inout [UInt8]) {
        appendU16(r.x, to: &out)
        appendU16(r.y, to: &out)
        appendU16(r.width, to: &out)
        appendU16(r.height, to: &out)
        let e = UInt32(bitPattern: encoding)
        out += [UInt8(e >> 24), UInt8(e >> 16 & 0xff), UInt8(e >> 8 & 0xff), UInt8(e & 0xff)]
    }

    static func appendU16(_ v: Int, to out: inout [UInt8]) {
        out.append(UInt8(v >> 8 & 0xff))
        out.append(UInt8(v & 0xff))
    }
}
