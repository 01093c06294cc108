import CZlib
import Display
@testable import DisplayOutputs
import Foundation
import Glibc

/// Why the test client gave up.
struct RFBTestClientError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// One rectangle of a FramebufferUpdate as the test client received it.
struct ReceivedRectangle: Equatable {
    var x, y, width, height: Int
    var encoding: Int32
}

/// A small RFB client of our own, blocking with a receive timeout: handshakes with either
/// security type, asks for updates and decodes Raw, CopyRect, ZRLE and DesktopSize into its
/// own copy of the framebuffer (as `x8r8g8b8` values), and sends key and pointer events.
final class RFBTestClient {
    let fd: Int32
    private(set) var width = 0
    private(set) var height = 0
    private(set) var pixels: [UInt32] = []
    private(set) var serverFormat = [UInt8]()
    private(set) var name = ""
    var format = RFBPixelFormat.native
    /// False: pixel data is read and dropped (benchmarks measure the server, not this decoder).
    var decodes = true
    private(set) var bytesReceived = 0
    /// The last Cursor pseudo-rectangle: hotspot, size, pixels (`x8r8g8b8`) and visibility.
    private(set) var cursor: (hotspotX: Int, hotspotY: Int, width: Int, height: Int, pixels: [UInt32], visible: [Bool])?
    private var inflater: UnsafeMutablePointer<z_stream>?

    init(unixPath: String, timeoutSeconds: Int = 10) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RFBTestClientError("socket: errno \(errno)") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in unixPath.utf8.enumerated() { p[i] = b } }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw RFBTestClientError("connect(\(unixPath)): errno \(errno)")
        }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Connects over TCP to 127.0.0.1:`port`.
    init(tcpPort port: Int, timeoutSeconds: Int = 10) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RFBTestClientError("socket: errno \(errno)") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw RFBTestClientError("connect(127.0.0.1:\(port)): errno \(errno)")
        }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit {
        close(fd)
        if let inflater {
            inflateEnd(inflater)
            inflater.deallocate()
        }
    }

    // MARK: Bytes

    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw RFBTestClientError("send: errno \(errno)") }
            sent += n
        }
    }

    func read(_ count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = out.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, count - got, 0) }
            if n == 0 { throw RFBTestClientError("server closed the connection after \(got) of \(count) bytes") }
            if n < 0 {
                if errno == EINTR { continue }
                throw RFBTestClientError("recv: errno \(errno)")
            }
            got += n
        }
        bytesReceived += count
        return out
    }

    func readU8() throws -> Int { Int(try read(1)[0]) }
    func readU16() throws -> Int { let b = try read(2); return Int(b[0]) << 8 | Int(b[1]) }
    func readU32() throws -> UInt32 {
        let b = try read(4)
        return UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3])
    }

    /// True when the server closes the connection (reads until EOF, discarding bytes).
    func waitForClose() -> Bool {
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }

    static func u16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
    static func u32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }

    // MARK: Handshake

    enum HandshakeResult: Equatable {
        case connected
        case refused(reason: String)
    }

    /// Version, security (None, or VNC Authentication with `password`), ClientInit, ServerInit.
    @discardableResult
    func handshake(version: String = "RFB 003.008\n", password: String? = nil) throws -> HandshakeResult {
        let serverVersion = String(decoding: try read(12), as: UTF8.self)
        guard serverVersion == "RFB 003.008\n" else { throw RFBTestClientError("server version \(serverVersion)") }
        try send(Array(version.utf8))
        // As the server does: 3.4-3.6 are 3.3, anything from 3.8 on is 3.8.
        let asked = Int(version.dropFirst(8).prefix(3)) ?? 8
        let minor = asked >= 8 ? 8 : asked == 7 ? 7 : 3
        var type: Int
        if minor == 3 {
            type = Int(try readU32())
        } else {
            let count = try readU8()
            guard count > 0 else { throw RFBTestClientError("no security types") }
            let types = try read(count)
            type = Int(types[0])
            try send([types[0]])
        }
        if type == 2 {
            let challenge = try read(16)
            let response = VNCAuthentication(password: password ?? "").response(to: challenge)
            try send(response)
            let result = try readU32()
            if result != 0 {
                if minor >= 8 {
                    let length = Int(try readU32())
                    return .refused(reason: String(decoding: try read(length), as: UTF8.self))
                }
                return .refused(reason: "")
            }
        } else if type == 1 {
            if minor >= 8 {
                guard try readU32() == 0 else { throw RFBTestClientError("SecurityResult failed for None") }
            }
        } else {
            throw RFBTestClientError("security type \(type)")
        }
        try send([1])  // ClientInit, shared
        width = try readU16()
        height = try readU16()
        serverFormat = try read(16)
        let nameLength = Int(try readU32())
        name = String(decoding: try read(nameLength), as: UTF8.self)
        pixels = [UInt32](repeating: 0, count: width * height)
        return .connected
    }

    // MARK: Client messages

    func setEncodings(_ list: [Int32]) throws {
        try send([2, 0] + Self.u16(list.count) + list.flatMap { Self.u32(UInt32(bitPattern: $0)) })
    }

    func setPixelFormat(_ f: RFBPixelFormat) throws {
        format = f
        try send([0, 0, 0, 0] + f.encoded)
    }

    func requestUpdate(incremental: Bool, x: Int = 0, y: Int = 0, width w: Int? = nil, height h: Int? = nil) throws {
        try send([3, incremental ? 1 : 0] + Self.u16(x) + Self.u16(y) + Self.u16(w ?? width) + Self.u16(h ?? height))
    }

    func key(_ keysym: UInt32, down: Bool) throws { try send([4, down ? 1 : 0, 0, 0] + Self.u32(keysym)) }

    func pointer(x: Int, y: Int, buttons: UInt8) throws { try send([5, buttons] + Self.u16(x) + Self.u16(y)) }

    // MARK: Updates

    /// Reads one FramebufferUpdate and applies it.
    func readUpdate() throws -> [ReceivedRectangle] {
        let type = try readU8()
        guard type == 0 else { throw RFBTestClientError("server message type \(type), expected FramebufferUpdate") }
        _ = try read(1)
        let count = try readU16()
        var rects: [ReceivedRectangle] = []
        for _ in 0..<count {
            let r = ReceivedRectangle(x: try readU16(), y: try readU16(), width: try readU16(), height: try readU16(),
                                      encoding: Int32(bitPattern: try readU32()))
            rects.append(r)
            switch r.encoding {
            case 0 where !decodes:
                _ = try read(r.width * r.height * format.bytesPerPixel)
            case 16 where !decodes:
                _ = try read(Int(try readU32()))
            case 0:
                let bpp = format.bytesPerPixel
                let data = try read(r.width * r.height * bpp)
                for row in 0..<r.height {
                    for col in 0..<r.width {
                        let i = (row * r.width + col) * bpp
                        put(r.x + col, r.y + row, decodePixel(Array(data[i..<i + bpp])))
                    }
                }
            case 1:
                let sx = try readU16(), sy = try readU16()
                let old = pixels
                for row in 0..<r.height {
                    for col in 0..<r.width { put(r.x + col, r.y + row, old[(sy + row) * width + sx + col]) }
                }
            case 16:
                try decodeZRLE(r)
            case -239:
                let bpp = format.bytesPerPixel
                let data = try read(r.width * r.height * bpp)
                let rowBytes = (r.width + 7) / 8
                let mask = try read(rowBytes * r.height)
                var pixels: [UInt32] = [], visible: [Bool] = []
                for y in 0..<r.height {
                    for x in 0..<r.width {
                        let i = (y * r.width + x) * bpp
                        pixels.append(decodePixel(Array(data[i..<i + bpp])))
                        visible.append(mask[y * rowBytes + x / 8] & (0x80 >> UInt8(x % 8)) != 0)
                    }
                }
                cursor = (r.x, r.y, r.width, r.height, pixels, visible)
            case -223:
                width = r.width
                height = r.height
                pixels = [UInt32](repeating: 0, count: width * height)
            default:
                throw RFBTestClientError("unexpected encoding \(r.encoding)")
            }
        }
        return rects
    }

    private func put(_ x: Int, _ y: Int, _ v: UInt32) {
        guard x < width, y < height else { return }
        pixels[y * width + x] = v
    }

    /// A pixel in the client's format back to `x8r8g8b8` (channels scaled up to 8 bits).
    func decodePixel(_ b: [UInt8]) -> UInt32 {
        var v: UInt32 = 0
        if format.bigEndian { for x in b { v = v << 8 | UInt32(x) } } else { for x in b.reversed() { v = v << 8 | UInt32(x) } }
        func channel(_ shift: UInt8, _ max: UInt16) -> UInt32 {
            let c = (v >> UInt32(shift)) & UInt32(max)
            return (c * 255 + UInt32(max) / 2) / UInt32(max)
        }
        return channel(format.redShift, format.redMax) << 16 | channel(format.greenShift, format.greenMax) << 8
            | channel(format.blueShift, format.blueMax)
    }

    private func inflate(_ data: [UInt8]) throws -> [UInt8] {
        if inflater == nil {
            let s = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            s.initialize(to: z_stream())
            guard inflateInit_(s, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                throw RFBTestClientError("inflateInit")
            }
            inflater = s
        }
        guard let s = inflater else { throw RFBTestClientError("no inflater") }
        var input = data
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        try input.withUnsafeMutableBufferPointer { inBuf in
            s.pointee.next_in = inBuf.baseAddress
            s.pointee.avail_in = uInt(inBuf.count)
            repeat {
                let produced = try chunk.withUnsafeMutableBufferPointer { outBuf -> Int in
                    s.pointee.next_out = outBuf.baseAddress
                    s.pointee.avail_out = uInt(outBuf.count)
                    let rc = CZlib.inflate(s, Z_SYNC_FLUSH)
                    guard rc == Z_OK || rc == Z_BUF_ERROR || rc == Z_STREAM_END else { throw RFBTestClientError("inflate \(rc)") }
                    return outBuf.count - Int(s.pointee.avail_out)
                }
                out += chunk[0..<produced]
            } while s.pointee.avail_in > 0 || s.pointee.avail_out == 0
        }
        return out
    }

    /// ZRLE per RFC 6143 §7.7.6, written independently of the server's encoder.
    private func decodeZRLE(_ r: ReceivedRectangle) throws {
        let length = Int(try readU32())
        let data = try inflate(try read(length))
        var p = 0
        func byte() throws -> Int {
            guard p < data.count else { throw RFBTestClientError("ZRLE data ended early") }
            p += 1
            return Int(data[p - 1])
        }
        let cp = format.compressedPixel
        func cpixel() throws -> UInt32 {
            var b = [UInt8](repeating: 0, count: format.bytesPerPixel)
            for k in cp.offset..<cp.offset + cp.size { b[k] = UInt8(try byte()) }
            return decodePixel(b)
        }
        func runLength() throws -> Int {
            var n = 1
            while true {
                let b = try byte()
                n += b
                if b != 255 { return n }
            }
        }
        var ty = r.y
        while ty < r.y + r.height {
            let th = min(64, r.y + r.height - ty)
            var tx = r.x
            while tx < r.x + r.width {
                let tw = min(64, r.x + r.width - tx)
                var tile = [UInt32](repeating: 0, count: tw * th)
                let sub = try byte()
                switch sub {
                case 0:
                    for i in 0..<tile.count { tile[i] = try cpixel() }
                case 1:
                    let v = try cpixel()
                    for i in 0..<tile.count { tile[i] = v }
                case 2...16:
                    let palette = try (0..<sub).map { _ in try cpixel() }
                    let bits = sub == 2 ? 1 : sub <= 4 ? 2 : 4
                    for row in 0..<th {
                        var current = 0, left = 0
                        for col in 0..<tw {
                            if left == 0 { current = try byte(); left = 8 }
                            left -= bits
                            let index = (current >> left) & ((1 << bits) - 1)
                            guard index < palette.count else { throw RFBTestClientError("palette index \(index)") }
                            tile[row * tw + col] = palette[index]
                        }
                    }
                case 128:
                    var i = 0
                    while i < tile.count {
                        let v = try cpixel()
                        let n = try runLength()
                        guard i + n <= tile.count else { throw RFBTestClientError("RLE run past the tile") }
                        for k in i..<i + n { tile[k] = v }
                        i += n
                    }
                case 130...255:
                    let palette = try (0..<(sub - 128)).map { _ in try cpixel() }
                    var i = 0
                    while i < tile.count {
                        let b = try byte()
                        let index = b & 0x7f
                        guard index < palette.count else { throw RFBTestClientError("palette index \(index)") }
                        let n = b & 0x80 != 0 ? try runLength() : 1
                        guard i + n <= tile.count else { throw RFBTestClientError("RLE run past the tile") }
                        for k in i..<i + n { tile[k] = palette[index] }
                        i += n
                    }
                default:
                    throw RFBTestClientError("ZRLE subencoding \(sub)")
                }
                for row in 0..<th { for col in 0..<tw { put(tx + col, ty + row, tile[row * tw + col]) } }
                tx += 64
            }
            ty += 64
        }
        guard p == data.count else { throw RFBTestClientError("ZRLE: \(data.count - p) bytes left over") }
    }
}
