/// A rectangle in pixels, origin at the top left. Sizes are never negative.
public struct DisplayRect: Sendable, Hashable, CustomStringConvertible {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = max(0, width)
        self.height = max(0, height)
    }

    /// The rectangle `(0, 0, width, height)`.
    public init(width: Int, height: Int) { self.init(x: 0, y: 0, width: width, height: height) }

    public var isEmpty: Bool { width == 0 || height == 0 }
    /// One past the right edge.
    public var maxX: Int { x + width }
    /// One past the bottom edge.
    public var maxY: Int { y + height }

    /// The part of `self` inside `other` (empty when they do not meet).
    public func intersection(_ other: DisplayRect) -> DisplayRect {
        let x0 = max(x, other.x), y0 = max(y, other.y)
        let x1 = min(maxX, other.maxX), y1 = min(maxY, other.maxY)
        guard x1 > x0, y1 > y0 else { return DisplayRect(x: x0, y: y0, width: 0, height: 0) }
        return DisplayRect(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
    }

    /// The smallest rectangle holding both (an empty one does not count).
    public func union(_ other: DisplayRect) -> DisplayRect {
        if isEmpty { return other }
        if other.isEmpty { return self }
        let x0 = min(x, other.x), y0 = min(y, other.y)
        return DisplayRect(x: x0, y: y0, width: max(maxX, other.maxX) - x0, height: max(maxY, other.maxY) - y0)
    }

    /// True when `other` lies wholly inside `self`.
    public func contains(_ other: DisplayRect) -> Bool {
        other.x >= x && other.y >= y && other.maxX <= maxX && other.maxY <= maxY
    }

    public var description: String { "\(width)x\(height)+\(x)+\(y)" }
}
