import Display

/// Which parts of a client's framebuffer may be out of date, in 32×32 tiles: bounded memory
/// however much damage piles up between the client's requests, and cheap to turn back into a
/// few rectangles.
struct DirtyTiles {
    static let tileSize = 32

    let width: Int
    let height: Int
    let columns: Int
    let rows: Int
    private var bits: [Bool]
    private(set) var count = 0

    /// All clean, for a `width × height` framebuffer.
    init(width: Int, height: Int) {
        self.width = width
        self.height = height
        columns = (width + Self.tileSize - 1) / Self.tileSize
        rows = (height + Self.tileSize - 1) / Self.tileSize
        bits = [Bool](repeating: false, count: columns * rows)
    }

    var isEmpty: Bool { count == 0 }

    /// The tile columns and rows `rect` touches (clipped to the framebuffer).
    private func tileRange(_ rect: DisplayRect) -> (columns: Range<Int>, rows: Range<Int>)? {
        let r = rect.intersection(DisplayRect(width: width, height: height))
        guard !r.isEmpty else { return nil }
        let t = Self.tileSize
        return (r.x / t..<(r.maxX + t - 1) / t, r.y / t..<(r.maxY + t - 1) / t)
    }

    mutating func mark(_ rect: DisplayRect) {
        guard let (cs, rs) = tileRange(rect) else { return }
        for row in rs {
            for col in cs where !bits[row * columns + col] {
                bits[row * columns + col] = true
                count += 1
            }
        }
    }

    mutating func markAll() { mark(DisplayRect(width: width, height: height)) }

    /// Cleans the tiles wholly inside `rect`; tiles it only touches stay dirty.
    mutating func clear(inside rect: DisplayRect) {
        let r = rect.intersection(DisplayRect(width: width, height: height))
        guard !r.isEmpty else { return }
        let t = Self.tileSize
        // A tile counts as inside when the part of it within the framebuffer is.
        for row in r.y / t..<(r.maxY + t - 1) / t {
            for col in r.x / t..<(r.maxX + t - 1) / t where bits[row * columns + col] {
                if r.contains(tileRect(column: col, row: row)) {
                    bits[row * columns + col] = false
                    count -= 1
                }
            }
        }
    }

    func isDirty(column: Int, row: Int) -> Bool { bits[row * columns + column] }

    mutating func set(column: Int, row: Int, _ dirty: Bool) {
        let i = row * columns + column
        if bits[i] != dirty {
            bits[i] = dirty
            count += dirty ? 1 : -1
        }
    }

    /// The tile's rectangle, clipped to the framebuffer.
    func tileRect(column: Int, row: Int) -> DisplayRect {
        let t = Self.tileSize
        return DisplayRect(x: column * t, y: row * t, width: min(t, width - column * t), height: min(t, height - row * t))
    }

    /// True when any dirty tile meets `rect`.
    func intersects(_ rect: DisplayRect) -> Bool {
        guard let (cs, rs) = tileRange(rect) else { return false }
        for row in rs { for col in cs where bits[row * columns + col] { return true } }
        return false
    }

    /// The bounding box of the dirty tiles within `clip` (clipped to it).
    func bounds(within clip: DisplayRect) -> DisplayRect {
        guard let (cs, rs) = tileRange(clip) else { return DisplayRect(width: 0, height: 0) }
        var box = DisplayRect(width: 0, height: 0)
        for row in rs { for col in cs where bits[row * columns + col] { box = box.union(tileRect(column: col, row: row)) } }
        return box.intersection(clip)
    }

    /// The dirty tiles within `clip` as rectangles (clipped to it): runs along each tile row,
    /// merged downwards while the next row has the same run.
    func rectangles(within clip: DisplayRect) -> [DisplayRect] {
        guard let (cs, rs) = tileRange(clip) else { return [] }
        let t = Self.tileSize
        var open: [Range<Int>: DisplayRect] = [:]
        var done: [DisplayRect] = []
        for row in rs {
            var runs: [Range<Int>] = []
            var col = cs.lowerBound
            while col < cs.upperBound {
                guard bits[row * columns + col] else { col += 1; continue }
                let start = col
                while col < cs.upperBound && bits[row * columns + col] { col += 1 }
                runs.append(start..<col)
            }
            var next: [Range<Int>: DisplayRect] = [:]
            for run in runs {
                let band = DisplayRect(x: run.lowerBound * t, y: row * t, width: run.count * t, height: t)
                if let above = open.removeValue(forKey: run), above.maxY == band.y {
                    next[run] = DisplayRect(x: above.x, y: above.y, width: above.width, height: above.height + t)
                } else {
                    next[run] = band
                }
            }
            done += open.values
            open = next
        }
        done += open.values
        return done.map { $0.intersection(clip) }.filter { !$0.isEmpty }.sorted { ($0.y, $0.x) < ($1.y, $1.x) }
    }
}
