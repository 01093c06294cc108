import Display
#if canImport(Glibc)
import Glibc
#endif

/// Takes one picture of a running machine's screen through its VNC server, as a client: what
/// `swiftdm screenshot` does while the guest runs. It asks for 32-bit `x8r8g8b8` pixels in Raw
/// encoding (every RFB server must offer it) and one full, non-incremental update.
public struct VNCFrameCapture: Sendable {
    /// Where the server listens (the same spelling as its ``VNCConfiguration``; a TCP server
    /// bound to every address is reached on the loopback address).
    public var server: VNCConfiguration.Listen
    /// The server's password, when it requires VNC Authentication.
    public var password: String?
    /// How long each read or write may wait.
    public var timeoutSeconds: Int

    public init(server: VNCConfiguration.Listen, password: String? = nil, timeoutSeconds: Int = 10) {
        self.server = server
        self.password = password
        self.timeoutSeconds = timeoutSeconds
    }

    /// Connects, negotiates, and returns the screen as the server sends it.
    public func capture() throws(VNCError) -> PixelImage {
        let fd = try connect()
        defer { close(fd) }
        let wire = CaptureWire(fd: fd)

        let version = try wire.read(12)
        guard version.starts(with: Array("RFB 003.".utf8)) else { throw .captureFailed("the server greeted with \(printable(version))") }
        try wire.write(Array("RFB 003.008\n".utf8))
        let typeCount = Int(try wire.read(1)[0])
        if typeCount == 0 { throw .captureFailed("the server refused: \(try wire.readString())") }
        let types = try wire.read(typeCount)
        if let password, types.contains(2) {
            try wire.write([2])
            let challenge = try wire.read(VNCAuthentication.challengeLength)
            try wire.write(VNCAuthentication(password: password).response(to: challenge))
        } else if types.contains(1) {
            try wire.write([1])
        } else {
            throw .captureFailed(types.contains(2) ? "the server requires a password (VNC Authentication)"
                                                   : "no security type in common (the server offers \(types))")
        }
        if try wire.readUInt32() != 0 { throw .captureFailed("authentication failed: \(try wire.readString())") }

        try wire.write([1])  // ClientInit, shared: other viewers stay connected.
        var width = Int(try wire.readUInt16())
        var height = Int(try wire.readUInt16())
        _ = try wire.read(16)  // the server's pixel format, replaced below
        _ = try wire.readString()

        // SetPixelFormat: 32 bpp, depth 24, little-endian, true colour, R at bit 16, G at 8, B at 0,
        // which is x8r8g8b8 in memory: the surface's own format.
        try wire.write([0, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0])
        // SetEncodings: Raw, and DesktopSize so a mode change mid-capture resizes rather than clips.
        try wire.write([2, 0, 0, 2, 0, 0, 0, 0] + bigEndian(Int32(-223)))
        var image = try Self.image(width, height)
        try requestFull(wire, width, height)
        while true {
            switch try wire.read(1)[0] {
            case 0:  // FramebufferUpdate
                _ = try wire.read(1)
                let rects = Int(try wire.readUInt16())
                var drew = false
                for _ in 0..<rects {
                    let x = Int(try wire.readUInt16()), y = Int(try wire.readUInt16())
                    let w = Int(try wire.readUInt16()), h = Int(try wire.readUInt16())
                    let encoding = Int32(bitPattern: try wire.readUInt32())
                    switch encoding {
                    case 0:
                        guard x + w <= width, y + h <= height else {
                            throw .captureFailed("a \(w)x\(h)+\(x)+\(y) rectangle outside the \(width)x\(height) screen")
                        }
                        try image.withMutableBytes { (bytes: UnsafeMutableRawBufferPointer) throws(VNCError) in
                            for row in 0..<h {
                                let line = try wire.read(w * 4)
                                let start = (y + row) * image.stride + x * 4
                                line.withUnsafeBytes { bytes.baseAddress!.advanced(by: start).copyMemory(from: $0.baseAddress!, byteCount: line.count) }
                            }
                        }
                        drew = true
                    case -223:
                        width = w
                        height = h
                        image = try Self.image(width, height)
                    default:
                        throw .captureFailed("the server used encoding \(encoding), which was not asked for")
                    }
                }
                if drew { return image }
                try requestFull(wire, width, height)
            case 1:  // SetColourMapEntries (not for true colour, but legal): skip
                _ = try wire.read(3)
                let count = Int(try wire.readUInt16())
                _ = try wire.read(count * 6)
            case 2:  // Bell
                continue
            case 3:  // ServerCutText
                _ = try wire.read(3)
                _ = try wire.readString()
            case let other:
                throw .captureFailed("unknown server message type \(other)")
            }
        }
    }

    private static func image(_ width: Int, _ height: Int) throws(VNCError) -> PixelImage {
        do {
            return try PixelImage(width: width, height: height, format: DisplaySurface.format)
        } catch {
            throw .captureFailed("the server's screen is \(width)x\(height): \(error)")
        }
    }

    private func requestFull(_ wire: CaptureWire, _ width: Int, _ height: Int) throws(VNCError) {
        try wire.write([3, 0] + bigEndian(UInt16(0)) + bigEndian(UInt16(0)) + bigEndian(UInt16(width)) + bigEndian(UInt16(height)))
    }

    private func connect() throws(VNCError) -> Int32 {
        let fd: Int32
        let rc: Int32
        switch server {
        case .unix(let path):
            let address = try UnixSocketAddress(path)
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw .captureFailed("socket: \(String(cString: strerror(errno)))") }
            rc = address.connect(fd)
        case .tcp(let host, let display):
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var list: UnsafeMutablePointer<addrinfo>?
            // A server bound to every address answers on the loopback one.
            let target = host == "0.0.0.0" ? "127.0.0.1" : host == "::" ? "::1" : host
            guard getaddrinfo(target, "\(5900 + display)", &hints, &list) == 0, let first = list else {
                throw .captureFailed("cannot resolve \(host)")
            }
            defer { freeaddrinfo(list) }
            fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw .captureFailed("socket: \(String(cString: strerror(errno)))") }
            rc = Glibc.connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen)
        }
        guard rc == 0 else {
            let e = errno
            close(fd)
            throw .captureFailed("cannot connect to \(server): \(String(cString: strerror(e)))")
        }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    private func printable(_ bytes: [UInt8]) -> String {
        String(decoding: bytes.map { (0x20..<0x7f).contains($0) ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
    }
}

private func bigEndian<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
    withUnsafeBytes(of: v.bigEndian) { Array($0) }
}

/// Blocking reads and writes of whole messages on the capture's socket.
private struct CaptureWire {
    /// The longest string (reason, desktop name, cut text) the capture reads: anything longer
    /// is not a VNC server talking.
    static let maximumString = 1 << 20
    let fd: Int32

    func read(_ count: Int) throws(VNCError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + done, count - done) }
            if n > 0 { done += n; continue }
            if n < 0, errno == EINTR { continue }
            throw .captureFailed(n == 0 ? "the server closed the connection" : "read: \(String(cString: strerror(errno)))")
        }
        return buffer
    }

    func write(_ bytes: [UInt8]) throws(VNCError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL)) }
            if n > 0 { done += n; continue }
            if n < 0, errno == EINTR { continue }
            throw .captureFailed("write: \(String(cString: strerror(errno)))")
        }
    }

    func readUInt16() throws(VNCError) -> UInt16 {
        let b = try read(2)
        return UInt16(b[0]) << 8 | UInt16(b[1])
    }

    func readUInt32() throws(VNCError) -> UInt32 {
        let b = try read(4)
        return UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3])
    }

    /// A length-prefixed string (RFB's reason strings, desktop name, cut text).
    func readString() throws(VNCError) -> String {
        let length = Int(try readUInt32())
        guard length <= Self.maximumString else { throw .captureFailed("a \(length)-byte string from the server") }
        return String(decoding: try read(length), as: UTF8.self)
    }
}
