@testable import DisplayOutputs
import Testing

/// Clients that send garbage, lie about lengths or vanish mid-message are closed; the
/// server keeps serving the others.
struct VNCHostileClientTests {
    /// A well-behaved client still gets served after the hostile one.
    private func serverStillServes(_ f: VNCFixture) throws {
        let good = try f.connect()
        #expect(try good.handshake() == .connected)
        try good.requestUpdate(incremental: false)
        _ = try good.readUpdate()
        #expect(good.pixels == f.surfacePixels())
    }

    @Test(arguments: ["GET / HTTP/1.1\r\n", "RFB 004.000\n", "RFB 003.00x\n", "\0\0\0\0\0\0\0\0\0\0\0\0"])
    func garbageVersion(_ text: String) throws {
        let f = try VNCFixture()
        let c = try f.connect()
        _ = try c.read(12)
        try c.send(Array(text.utf8))
        #expect(c.waitForClose())
        try serverStillServes(f)
    }

    @Test func securityTypeNotOffered() throws {
        let f = try VNCFixture()
        let c = try f.connect()
        _ = try c.read(12)
        try c.send(Array("RFB 003.008\n".utf8))
        #expect(try c.read(2) == [1, 1])  // one type: None
        try c.send([2])  // VNC Authentication instead
        #expect(try c.readU32() == 1)
        let reason = String(decoding: try c.read(Int(try c.readU32())), as: UTF8.self)
        #expect(reason == "security type 2 was not offered")
        #expect(c.waitForClose())
        try serverStillServes(f)
    }

    @Test func hugeSetEncodingsCount() throws {
        let f = try VNCFixture()
        let c = try f.connect()
        try c.handshake()
        try c.send([2, 0, 0xff, 0xff, 0, 0, 0, 0])  // 65535 encodings, 4 bytes of them
        #expect(c.waitForClose())
        try serverStillServes(f)
    }

    @Test func hugeClientCutText() throws {
        let f = try VNCFixture()
        let c = try f.connect()
        try c.handshake()
        try c.send([6, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x41, 0x42])
        #expect(c.waitForClose())
        try serverStillServes(f)
    }

    @Test func smallClientCutTextIsSkipped() throws {
        let f = try VNCFixture()
        let c = try f.connect()
        try c.handshake()
        try c.send([6, 0, 0, 0, 0, 0, 0, 5] + Array("hello".utf8))
        try c.requestUpdate(incremental: false)
        #expect(try c.readUpdate().count == 1)
    }

    @Test func unknownMessageType() throws {
        let f = try VNCFixture()
        let c = try f.connect()
        try c.handshake()
        try c.send([99, 1, 2, 3])
        #expect(c.waitForClose())
        try serverStillServes(f)
    }

    @Test func closingMidMessage() throws {
        let f = try VNCFixture()
        do {
            let c = try f.connect()
            try c.handshake()
            try c.send([2, 0, 0, 10, 0, 0])  // SetEncodings of 10, cut short
            try c.send([3, 0, 0])  // and nothing after
        }
        do {
            let c = try f.connect()
            try c.send(Array("RFB 00".utf8))  // mid-version
        }
        try serverStillServes(f)
    }

    @Test func clientThatNeverReadsDoesNotStopOthers() throws {
        let f = try VNCFixture(width: 1024, height: 768)
        let stalled = try f.connect()
        try stalled.handshake()
        // Many full-screen requests, never read: the server queues one update at a time.
        for _ in 0..<200 { try stalled.requestUpdate(incremental: false) }
        try serverStillServes(f)
        let other = try f.connect()
        try other.handshake()
        try other.key(0x61, down: true)
        #expect(f.keyboard.waitFor(count: 1) == [.key(code: 30, pressed: true)])
    }
}
