import Display
@testable import DisplayOutputs
import Foundation
import Testing

/// Frames per second of whole 1024×768 screens through the server and our client (which
/// reads them whole but decodes only the first), for ~2 s each. Numbers go to BENCH lines; nothing is asserted on them.
@Suite(.serialized)
struct VNCBenchmarkTests {
    @Test(arguments: [("Raw", Int32(0)), ("ZRLE", Int32(16))])
    func fullScreenUpdates(name: String, encoding: Int32) throws {
        let f = try VNCFixture(width: 1024, height: 768)
        let c = try f.connect()
        try c.handshake()
        try c.setEncodings([encoding])
        // The first frame decoded and checked; the timed ones only read.
        try c.requestUpdate(incremental: false)
        _ = try c.readUpdate()
        #expect(c.pixels == f.surfacePixels())
        c.decodes = false
        var frames = 0
        let bytesBefore = c.bytesReceived
        let start = Date()
        while Date().timeIntervalSince(start) < 2 {
            try c.requestUpdate(incremental: false)
            let rects = try c.readUpdate()
            #expect(rects.count == 1)
            frames += 1
        }
        let seconds = Date().timeIntervalSince(start)
        print("BENCH: VNC \(name) full 1024x768 updates: \(String(format: "%.1f", Double(frames) / seconds)) frames/s (\(frames) in \(String(format: "%.2f", seconds)) s, \((c.bytesReceived - bytesBefore) / max(frames, 1)) bytes/frame)")
    }
}
