import CDeviceModelShims
import Display
import Glibc
import Synchronization

/// Carries a surface's changes from the drawing thread to the VNC server thread: the
/// observer notes them here (under a lock, briefly) and wakes the server through an
/// eventfd, so drawing never waits for a client.
final class SurfaceChangeQueue: Sendable {
    /// What piled up since the server last looked.
    struct Changes {
        var resized = false
        var cursor = false
        var damage: [DisplayRect] = []
        var isEmpty: Bool { !resized && !cursor && damage.isEmpty }
    }

    /// Beyond this many rectangles the damage is kept as their bounding box.
    static let maximumRectangles = 64

    private let pending = Mutex(Changes())
    /// Readable while changes wait (or ``wake()`` was called); the server polls it.
    let eventFD: Int32

    init() throws(VNCError) {
        let fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard fd >= 0 else { throw .system(call: "eventfd", errno: errno) }
        eventFD = fd
    }

    deinit { close(eventFD) }

    /// Records one change (the surface observer, on the drawing thread).
    func note(_ change: DisplaySurfaceChange) {
        pending.withLock { c in
            switch change {
            case .resized: c.resized = true
            case .cursor: c.cursor = true
            case .damaged(let r):
                if c.damage.count < Self.maximumRectangles {
                    c.damage.append(r)
                } else {
                    c.damage = [c.damage.reduce(r) { $0.union($1) }]
                }
            }
        }
        wake()
    }

    /// Makes the eventfd readable. `write(2)`; a full counter (EAGAIN) is already readable.
    func wake() {
        var one: UInt64 = 1
        _ = write(eventFD, &one, 8)
    }

    /// Takes what piled up and resets the eventfd. `read(2)`.
    func take() -> Changes {
        var value: UInt64 = 0
        _ = read(eventFD, &value, 8)
        return pending.withLock { c in
            let taken = c
            c = Changes()
            return taken
        }
    }
}
