import Synchronization

/// One screen of the guest (a scanout): the picture a device draws into and outputs (VNC,
/// screenshots) read from. Devices never know which outputs are attached; outputs never
/// know which device draws.
///
/// Pixels are `x8r8g8b8`. All state sits behind one lock: a device's queue thread writes, an
/// output's thread reads, and observers run on the writer's thread after the lock is
/// released, so they must only note the change and wake their own thread.
public final class DisplaySurface: Sendable {
    /// The format every surface stores (and outputs read).
    public static let format = PixelFormat.x8r8g8b8

    /// Index of the scanout among the machine's (0 for the first).
    public let index: Int

    private struct State {
        var image: PixelImage?
        /// The picture from before the surface last went dark: a guest's display driver
        /// turns its scanouts off as it shuts down, and a screenshot at exit wants what the
        /// guest last showed.
        var lastShown: PixelImage?
        var cursor = DisplayCursor()
        var observers: [Int: @Sendable (DisplaySurfaceChange) -> Void] = [:]
        var nextObserver = 0
    }
    private let state = Mutex(State())

    /// A dark surface (no mode set yet).
    public init(index: Int = 0) { self.index = index }

    /// The current size, or nil while the surface is dark.
    public var size: (width: Int, height: Int)? {
        state.withLock { s in s.image.map { ($0.width, $0.height) } }
    }

    /// True while a mode is set.
    public var isActive: Bool { state.withLock { $0.image != nil } }

    /// Sets a new mode: a black `width × height` picture (if the size differs; same size keeps
    /// the pixels). Observers hear ``DisplaySurfaceChange/resized(width:height:)``.
    public func setMode(width: Int, height: Int) throws(DisplayError) {
        let current = size
        if let current, current.width == width, current.height == height { return }
        let image = try PixelImage(width: width, height: height, format: Self.format)
        notify(.resized(width: width, height: height)) { s in
            s.image = image
            s.lastShown = nil
        }
    }

    /// Turns the surface off (the guest disabled the scanout).
    public func disable() {
        guard isActive else { return }
        notify(.resized(width: 0, height: 0)) { s in
            s.lastShown = s.image
            s.image = nil
        }
    }

    /// Copies `rect` of `source` to the surface at (`x`, `y`) and reports the written part as
    /// damage. Nothing happens while the surface is dark.
    public func draw(from source: PixelImage, rect: DisplayRect, toX x: Int, y: Int) {
        var written = DisplayRect(width: 0, height: 0)
        let observers = state.withLock { s -> [@Sendable (DisplaySurfaceChange) -> Void] in
            guard let image = s.image else { return [] }
            written = image.copy(from: source, rect: rect, toX: x, y: y)
            return written.isEmpty ? [] : Array(s.observers.values)
        }
        for o in observers { o(.damaged(written)) }
    }

    /// Lets `body` change the pixels in place and reports the rectangle it returns as damage.
    public func update(_ body: (PixelImage) -> DisplayRect) {
        var damage = DisplayRect(width: 0, height: 0)
        let observers = state.withLock { s -> [@Sendable (DisplaySurfaceChange) -> Void] in
            guard let image = s.image else { return [] }
            damage = body(image).intersection(image.bounds)
            return damage.isEmpty ? [] : Array(s.observers.values)
        }
        for o in observers { o(.damaged(damage)) }
    }

    /// Reads the current picture under the lock (nil while dark). Keep `body` short: the
    /// drawing device waits for it.
    public func read<R>(_ body: (PixelImage?) -> R) -> R {
        state.withLock { body($0.image) }
    }

    /// A copy of the current picture, or nil while dark.
    public func snapshot() -> PixelImage? {
        state.withLock { s in s.image.flatMap { try? $0.converted(to: Self.format) } }
    }

    /// A copy of the current picture or, while the surface is dark, of the last one it showed
    /// before it went dark (with `wasDark` true); nil when it never showed one.
    public func lastShownSnapshot() -> (image: PixelImage, wasDark: Bool)? {
        state.withLock { s in
            if let image = s.image { return (try? image.converted(to: Self.format)).map { ($0, false) } }
            return s.lastShown.flatMap { try? $0.converted(to: Self.format) }.map { ($0, true) }
        }
    }

    /// The cursor as the device last set it.
    public var cursor: DisplayCursor { state.withLock { $0.cursor } }

    /// Replaces the cursor (image, hotspot and position).
    public func setCursor(_ cursor: DisplayCursor) {
        notify(.cursor) { $0.cursor = cursor }
    }

    /// Moves the cursor without changing its image.
    public func moveCursor(x: Int, y: Int) {
        notify(.cursor) { s in
            s.cursor.x = x
            s.cursor.y = y
        }
    }

    /// Calls `observer` after every change, on the changing thread, until the token is
    /// passed to ``removeObserver(_:)``.
    public func addObserver(_ observer: @escaping @Sendable (DisplaySurfaceChange) -> Void) -> Int {
        state.withLock { s in
            let token = s.nextObserver
            s.nextObserver += 1
            s.observers[token] = observer
            return token
        }
    }

    public func removeObserver(_ token: Int) {
        _ = state.withLock { $0.observers.removeValue(forKey: token) }
    }

    private func notify(_ change: DisplaySurfaceChange, _ mutate: (inout State) -> Void) {
        let observers = state.withLock { s in
            mutate(&s)
            return Array(s.observers.values)
        }
        for o in observers { o(change) }
    }
}
