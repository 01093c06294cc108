import Display
@testable import DisplayOutputs
import Foundation
import Testing

/// The server against a real client: vncdotool (Python; `scripts/install-deps.sh` installs
/// it). Missing, these tests fail: they do not skip.
@Suite(.serialized)
struct VNCDoToolTests {
    /// Runs `vncdo` (or `python3` with `arguments`), up to 60 s; exit status and output.
    private func run(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [tool] + arguments
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let deadline = Date().addingTimeInterval(60)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning {
            p.terminate()
            p.waitUntilExit()
            Issue.record("\(tool) \(arguments) did not finish in 60 s")
        }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        if p.terminationStatus == 127 {
            Issue.record("\(tool) is not installed: run scripts/install-deps.sh (it pip-installs vncdotool)")
        }
        return (p.terminationStatus, output)
    }

    private func vncdo(_ f: VNCFixture, _ arguments: [String], password: String? = nil) throws -> (status: Int32, output: String) {
        try run("vncdo", ["-s", f.path, "-t", "50"] + (password.map { ["-p", $0] } ?? []) + arguments)
    }

    private func temporary(_ name: String) -> String { NSTemporaryDirectory() + "swiftdm-vncdo-\(getpid())-\(name)" }

    @Test func captureMatchesTheScreenshotPixelForPixel() throws {
        let f = try VNCFixture(width: 400, height: 300)
        let captured = temporary("capture.png"), ours = temporary("ours.png")
        defer { unlink(captured); unlink(ours) }
        let start = Date()
        let r = try vncdo(f, ["capture", captured])
        print("BENCH: vncdo capture of 400x300 (process start to exit): \(Int(Date().timeIntervalSince(start) * 1000)) ms")
        #expect(r.status == 0, "vncdo: \(r.output)")
        guard let snapshot = f.display.primary.snapshot() else { Issue.record("surface dark"); return }
        try Screenshot.write(snapshot, to: ours)
        let theirs = try PNGReader(Array(try Data(contentsOf: URL(fileURLWithPath: captured))))
        let mine = try PNGReader(Array(try Data(contentsOf: URL(fileURLWithPath: ours))))
        #expect(theirs.width == 400 && theirs.height == 300)
        #expect(theirs.pixels == mine.pixels)
        #expect(mine.pixels == f.surfacePixels())
    }

    @Test func captureThroughZRLE() throws {
        let f = try VNCFixture(width: 400, height: 300)
        let captured = temporary("zrle.png")
        defer { unlink(captured) }
        let script = """
        import sys
        from vncdotool import api, rfb
        from vncdotool.client import VNCDoToolClient
        VNCDoToolClient.encoding = rfb.Encoding.ZRLE
        c = api.connect(sys.argv[1], password=None, timeout=50)
        c.captureScreen(sys.argv[2])
        c.disconnect()
        api.shutdown()
        """
        let r = try run("python3", ["-c", script, f.path, captured])
        #expect(r.status == 0, "python: \(r.output)")
        let theirs = try PNGReader(Array(try Data(contentsOf: URL(fileURLWithPath: captured))))
        #expect(theirs.pixels == f.surfacePixels())
    }

    @Test func captureWithVNCAuthentication() throws {
        let f = try VNCFixture(password: "hunter2")
        let captured = temporary("auth.png")
        defer { unlink(captured) }
        let r = try vncdo(f, ["capture", captured], password: "hunter2")
        #expect(r.status == 0, "vncdo: \(r.output)")
        #expect(try PNGReader(Array(try Data(contentsOf: URL(fileURLWithPath: captured)))).pixels == f.surfacePixels())
        let wrong = try vncdo(f, ["capture", captured + ".wrong"], password: "hunter3")
        #expect(wrong.status != 0)
    }

    @Test func keysFromVncdo() throws {
        let f = try VNCFixture()
        #expect(try vncdo(f, ["key", "a"]).status == 0)
        #expect(f.keyboard.waitFor(count: 2) == [.key(code: 30, pressed: true), .key(code: 30, pressed: false)])
        #expect(try vncdo(f, ["type", "Hello"]).status == 0)
        // vncdotool sends the keysym 'H' without Shift (no --force-caps): the server adds it.
        let shift = InputEvent.key(code: 42, pressed: true), unshift = InputEvent.key(code: 42, pressed: false)
        let ello: [UInt16] = [18, 38, 38, 24]
        let expected = [InputEvent.key(code: 30, pressed: true), .key(code: 30, pressed: false)]
            + [shift, .key(code: 35, pressed: true), .key(code: 35, pressed: false), unshift]
            + ello.flatMap { [InputEvent.key(code: $0, pressed: true), .key(code: $0, pressed: false)] }
        #expect(f.keyboard.waitFor(count: expected.count) == expected)
    }

    @Test func pointerFromVncdo() throws {
        let f = try VNCFixture()
        #expect(try vncdo(f, ["move", "100", "200", "click", "1"]).status == 0)
        let expected: [InputEvent] = [
            .absolute(pixelX: 100, pixelY: 200, width: 320, height: 240),
            .button(.left, pressed: true),
            .button(.left, pressed: false),
        ]
        #expect(f.tablet.waitFor(count: expected.count) == expected)
    }
}
