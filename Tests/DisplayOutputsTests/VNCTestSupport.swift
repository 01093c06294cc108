import Display
@testable import DisplayOutputs
import Foundation
import Glibc
import Synchronization

/// An input device that records what it receives.
final class RecordingInputSink: InputEventSink {
    let inputKind: InputDeviceKind
    private let received = Mutex<[InputEvent]>([])

    init(_ kind: InputDeviceKind) { inputKind = kind }

    func receive(_ events: [InputEvent]) { received.withLock { $0 += events } }

    var events: [InputEvent] { received.withLock { $0 } }

    /// Waits up to `seconds` for at least `count` events.
    func waitFor(count: Int, seconds: Double = 10) -> [InputEvent] {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let e = events
            if e.count >= count { return e }
            usleep(10_000)
        }
        return events
    }
}

/// A display, a VNC server on a fresh UNIX socket, and the sinks on its router.
final class VNCFixture {
    let display = GuestDisplay()
    let server: VNCServer
    let path: String
    let keyboard = RecordingInputSink(.keyboard)
    let tablet = RecordingInputSink(.tablet)
    private static let lock = Mutex(0)

    init(password: String? = nil, width: Int? = 320, height: Int? = 240) throws {
        let n = Self.lock.withLock { c -> Int in c += 1; return c }
        path = "/tmp/swiftdm-vnc-\(getpid())-\(n).sock"
        if let width, let height {
            try display.primary.setMode(width: width, height: height)
            Self.drawPattern(on: display.primary)
        }
        display.input.attach(keyboard)
        display.input.attach(tablet)
        server = VNCServer(display: display, configuration: VNCConfiguration(listen: .unix(path), password: password))
        try server.start()
    }

    deinit { server.stop() }

    func connect() throws -> RFBTestClient { try RFBTestClient(unixPath: path) }

    /// A picture with every kind of ZRLE tile: solid areas, two- and few-colour patterns, long
    /// runs, and noise.
    static func patternPixel(_ x: Int, _ y: Int) -> UInt32 {
        switch (x / 40 + y / 40 * 3) % 6 {
        case 0: return 0x00_20_40_80
        case 1: return (x + y) % 2 == 0 ? 0x00_ff_ff_ff : 0x00_00_00_00
        case 2: return [0x00_ff_00_00, 0x00_00_ff_00, 0x00_00_00_ff, 0x00_ff_ff_00, 0x00_00_ff_ff][(x * 3 + y) % 5]
        case 3: return UInt32((x / 7 + y) % 9) * 0x00_1c_10_08
        case 4: return UInt32(truncatingIfNeeded: (x &* 2_654_435_761) ^ (y &* 40_503) ^ (x * y)) & 0x00_ff_ff_ff
        default: return UInt32(x & 0xff) << 16 | UInt32(y & 0xff) << 8 | UInt32((x + y) & 0xff)
        }
    }

    static func drawPattern(on surface: DisplaySurface, shift: Int = 0) {
        surface.update { image in
            image.withMutableBytes { b in
                for y in 0..<image.height {
                    for x in 0..<image.width {
                        b.storeBytes(of: patternPixel(x, y + shift).littleEndian, toByteOffset: y * image.stride + x * 4, as: UInt32.self)
                    }
                }
            }
            return image.bounds
        }
    }

    /// The surface's pixels (colour bits only), row by row.
    func surfacePixels() -> [UInt32] {
        display.primary.read { image -> [UInt32] in
            guard let image else { return [] }
            var out: [UInt32] = []
            for y in 0..<image.height { for x in 0..<image.width { out.append((image.pixel(x: x, y: y) ?? 0) & 0x00ff_ffff) } }
            return out
        }
    }
}

/// Waits until `condition` holds or `seconds` pass.
func eventually(_ seconds: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}
