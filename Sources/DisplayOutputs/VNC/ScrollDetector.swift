import Display

/// Finds a vertical scroll between the picture a client has and the current one: the Linux
/// framebuffer console moves everything up a text line at a time, which CopyRect (RFC 6143
/// §7.7.2) sends as a few bytes instead of the whole screen again.
///
/// Rows are compared by hash. A hash collision costs nothing but bandwidth: after the copy
/// the caller compares the pictures again and sends whatever still differs.
enum ScrollDetector {
    /// A band of rows that moved: for each `y` in `rows`, the current row `y` equals the
    /// client's old row `y + offset`.
    struct Scroll: Equatable {
        var offset: Int
        var rows: Range<Int>
    }

    /// The fewest rows a scroll must move to be worth a CopyRect.
    static let minimumRows = 32

    /// The largest vertical move of columns `columns` inside `area` from `old` to `new` (same
    /// size), or nil when no band of at least ``minimumRows`` rows moved.
    static func detect(old: PixelImage, new: PixelImage, area: DisplayRect) -> Scroll? {
        guard area.height >= minimumRows * 2, old.width == new.width, old.height == new.height else { return nil }
        let oldHashes = rowHashes(old, area)
        let newHashes = rowHashes(new, area)
        // Where each old row's content sat. Rows whose content repeats (blank lines between
        // text) match anywhere and say nothing about the move, so they do not vote.
        var where_: [UInt64: [Int]] = [:]
        for (i, h) in oldHashes.enumerated() { where_[h, default: []].append(i) }
        var votes: [Int: Int] = [:]
        for (i, h) in newHashes.enumerated() where h != oldHashes[i] {
            guard let places = where_[h], places.count <= 2 else { continue }
            for p in places { votes[p - i, default: 0] += 1 }
        }
        guard let (offset, count) = votes.max(by: { ($0.value, -abs($0.key)) < ($1.value, -abs($1.key)) }),
              offset != 0, count >= 4 else { return nil }
        // The longest run of rows that match at that offset.
        var best: Range<Int>? = nil
        var start: Int? = nil
        for i in 0...area.height {
            let j = i + offset
            let matches = i < area.height && j >= 0 && j < area.height && newHashes[i] == oldHashes[j]
            if matches {
                if start == nil { start = i }
            } else if let s = start {
                if i - s > (best?.count ?? 0) { best = s..<i }
                start = nil
            }
        }
        guard let run = best, run.count >= minimumRows else { return nil }
        return Scroll(offset: offset, rows: area.y + run.lowerBound..<area.y + run.upperBound)
    }

    /// A 64-bit FNV-1a-style hash of each row of `area` (colour bits only).
    private static func rowHashes(_ image: PixelImage, _ area: DisplayRect) -> [UInt64] {
        image.withBytes { bytes in
            guard let base = bytes.baseAddress else { return [] }
            var hashes: [UInt64] = []
            hashes.reserveCapacity(area.height)
            for row in area.y..<area.maxY {
                let line = (base + row * image.stride + area.x * 4).assumingMemoryBound(to: UInt32.self)
                var h: UInt64 = 0xcbf2_9ce4_8422_2325
                for col in 0..<area.width {
                    h = (h ^ UInt64(line[col] & 0x00ff_ffff)) &* 0x100_0000_01b3
                }
                hashes.append(h)
            }
            return hashes
        }
    }

    /// Moves rows `scroll.rows` of `image` within `columns` by the scroll (row `y + offset`
    /// to row `y`), as the client will when it handles the CopyRect.
    static func apply(_ scroll: Scroll, columns: Range<Int>, to image: PixelImage) {
        image.withMutableBytes { bytes in
            guard let base = bytes.baseAddress else { return }
            // Copy in the order that never reads a row already overwritten.
            let order: [Int] = scroll.offset > 0 ? Array(scroll.rows) : scroll.rows.reversed()
            for y in order {
                let dst = base + y * image.stride + columns.lowerBound * 4
                let src = base + (y + scroll.offset) * image.stride + columns.lowerBound * 4
                dst.copyMemory(from: src, byteCount: columns.count * 4)
            }
        }
    }
}
