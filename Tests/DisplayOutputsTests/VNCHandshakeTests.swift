import Display
@testable import DisplayOutputs
import Testing

struct VNCHandshakeTests {
    @Test func noneSecurityAndServerInit() throws {
        let f = try VNCFixture()
        let c = try f.connect()
        #expect(try c.handshake() == .connected)
        #expect(c.width == 320 && c.height == 240)
        #expect(c.name == "swiftdm")
        // 32 bpp, depth 24, little-endian, true colour, max 255, shifts 16/8/0.
        #expect(c.serverFormat == [32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0])
    }

    @Test(arguments: ["RFB 003.003\n", "RFB 003.007\n", "RFB 003.005\n", "RFB 003.889\n"])
    func olderAndOddVersions(_ version: String) throws {
        let f = try VNCFixture()
        let c = try f.connect()
        #expect(try c.handshake(version: version) == .connected)
        try c.requestUpdate(incremental: false)
        #expect(try c.readUpdate().count == 1)
        #expect(c.pixels == f.surfacePixels())
    }

    @Test(arguments: ["RFB 003.008\n", "RFB 003.007\n", "RFB 003.003\n"])
    func vncAuthenticationWithTheRightPassword(_ version: String) throws {
        let f = try VNCFixture(password: "s3cret")
        let c = try f.connect()
        #expect(try c.handshake(version: version, password: "s3cret") == .connected)
    }

    @Test func vncAuthenticationWithAWrongPassword() throws {
        let f = try VNCFixture(password: "s3cret")
        let c = try f.connect()
        #expect(try c.handshake(password: "guess") == .refused(reason: "password incorrect"))
        #expect(c.waitForClose())
        // The server carries on.
        let good = try f.connect()
        #expect(try good.handshake(password: "s3cret") == .connected)
    }

    @Test func darkSurfaceIsASmallBlackScreen() throws {
        let f = try VNCFixture(width: nil, height: nil)
        let c = try f.connect()
        try c.handshake()
        #expect(c.width == 640 && c.height == 480)
        try c.requestUpdate(incremental: false)
        _ = try c.readUpdate()
        #expect(c.pixels.allSatisfy { $0 == 0 })
    }

    @Test func tcpOnPort5900PlusDisplay() throws {
        let display = GuestDisplay()
        try display.primary.setMode(width: 64, height: 32)
        // The first free display number from 40 on.
        var server: VNCServer?
        var number = 40
        while server == nil && number < 100 {
            let s = VNCServer(display: display, configuration: try VNCConfiguration(parsing: "127.0.0.1:\(number)"))
            do {
                try s.start()
                server = s
            } catch {
                guard case .system(_, let e) = error, e == EADDRINUSE else { throw error }
                number += 1
            }
        }
        defer { server?.stop() }
        #expect(server != nil)
        let c = try RFBTestClient(tcpPort: 5900 + number)
        #expect(try c.handshake() == .connected)
        #expect(c.width == 64 && c.height == 32)
        // The same address twice: the second start fails with the address in use.
        let twice = VNCServer(display: display, configuration: try VNCConfiguration(parsing: "127.0.0.1:\(number)"))
        #expect(throws: VNCError.system(call: "bind(127.0.0.1:\(5900 + number))", errno: EADDRINUSE)) { try twice.start() }
    }

    @Test func stopClosesClientsAndRemovesTheSocket() throws {
        let f = try VNCFixture()
        let c = try f.connect()
        try c.handshake()
        f.server.stop()
        #expect(c.waitForClose())
        #expect(access(f.path, F_OK) != 0)
    }
}

import Glibc
