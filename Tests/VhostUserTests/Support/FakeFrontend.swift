import DeviceModel
@testable import VhostUser
#if canImport(Glibc)
import Glibc
#endif

/// The frontend side of a vhost-user connection, driven by tests: a socketpair end, a
/// file-backed "guest RAM" it shares with the backend, and a hand-built split ring.
final class FakeFrontend {
    static let ramSize = 1 << 20
    /// Where the frontend pretends to have mapped guest RAM (what SET_VRING_ADDR uses).
    static let userBase: UInt64 = 0x7f00_0000_0000
    static let ringSize: UInt16 = 8
    static let descGPA: UInt64 = 0x1000
    static let availGPA: UInt64 = 0x2000
    static let usedGPA: UInt64 = 0x3000
    static let dataGPA: UInt64 = 0x10000

    private(set) var fd: Int32
    /// The end the backend serves; hand it to `VhostUserBackend.serve(connectedSocket:)`
    /// (-1 for a frontend connected to a socket path).
    private(set) var backendFD: Int32
    let memoryFD: Int32
    /// Entries in ring 0 (8 unless a test sets another power of two before `setUpRing`).
    var ringSize: UInt16 = FakeFrontend.ringSize
    let ram: UnsafeMutableRawPointer
    let kick = try! EventNotifier()
    let call = try! EventNotifier()
    let err = try! EventNotifier()
    private var availIndex: UInt16 = 0
    private var nextDescriptor: UInt16 = 0

    /// A frontend on one end of a socket pair (the other end is ``backendFD``).
    convenience init() {
        let (mine, theirs) = Self.socketPair()
        self.init(socket: mine, backendFD: theirs)
    }

    /// A frontend connected to a backend listening on `path` (retrying for up to 10 s while
    /// the backend starts); `nil` if it never accepted.
    convenience init?(connectingTo path: String) {
        guard let s = Self.connect(to: path) else { return nil }
        self.init(socket: s, backendFD: -1)
    }

    private init(socket: Int32, backendFD: Int32) {
        fd = socket
        self.backendFD = backendFD
        var template = Array("/tmp/swiftdm-vu-ram-XXXXXX".utf8CString)
        memoryFD = mkstemp(&template)
        precondition(memoryFD >= 0)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        precondition(ftruncate(memoryFD, off_t(Self.ramSize)) == 0)
        ram = mmap(nil, Self.ramSize, PROT_READ | PROT_WRITE, MAP_SHARED, memoryFD, 0)!
        Self.limitReceives(fd)
    }

    // Read receives never hang a failing test for long; 60 s, because a reply can take over
    // 10 s while every suite starts at once on a loaded 2-core machine (seen in a fresh-clone
    // CI run: a late reply then shifted every later one by a message).
    private static func limitReceives(_ fd: Int32) {
        var tv = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    private static func socketPair() -> (Int32, Int32) {
        var sv: [Int32] = [-1, -1]
        precondition(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &sv) == 0)
        return (sv[0], sv[1])
    }

    /// Retries for up to 60 s: a backend process started on a loaded 2-core machine (a debug
    /// build, beside lab boots) can take many seconds to listen.
    private static func connect(to path: String) -> Int32? {
        for _ in 0..<3000 {
            let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &addr.sun_path) { p in
                for (i, b) in path.utf8.prefix(p.count - 1).enumerated() { p[i] = b }
            }
            let ok = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            if ok == 0 { return s }
            close(s)
            usleep(20_000)
        }
        return nil
    }

    /// Drops the connection and opens a new one — the guest RAM, rings, and kick, call and
    /// err descriptors stay, as a frontend keeps them across backend restarts. With a socket
    /// pair, returns the new backend end to serve; with a path, connects again (`nil`: the
    /// backend never accepted).
    @discardableResult
    func reconnect(to path: String? = nil) -> Int32? {
        close(fd)
        if let path {
            guard let s = Self.connect(to: path) else { return nil }
            fd = s
            backendFD = -1
        } else {
            (fd, backendFD) = Self.socketPair()
        }
        Self.limitReceives(fd)
        return path == nil ? backendFD : fd
    }

    deinit {
        munmap(ram, Self.ramSize)
        close(memoryFD)
        close(fd)
    }

    // MARK: Messages

    func sendRaw(_ bytes: [UInt8], fds: [Int32] = []) {
        let controlSize = fds.isEmpty ? 0 : 16 + ((4 * fds.count + 7) & ~7)
        let control = UnsafeMutableRawPointer.allocate(byteCount: max(controlSize, 8), alignment: 8)
        defer { control.deallocate() }
        if !fds.isEmpty {
            control.initializeMemory(as: UInt8.self, repeating: 0, count: controlSize)
            control.storeBytes(of: 16 + 4 * fds.count, as: Int.self)
            control.storeBytes(of: SOL_SOCKET, toByteOffset: 8, as: Int32.self)
            control.storeBytes(of: Int32(SCM_RIGHTS), toByteOffset: 12, as: Int32.self)
            for (i, f) in fds.enumerated() { control.storeBytes(of: f, toByteOffset: 16 + 4 * i, as: Int32.self) }
        }
        var copy = bytes
        var n: Int
        repeat { n = sendOnce(&copy, control: control, controlSize: controlSize) } while n < 0 && errno == EINTR
        // A stream socket may take part of a message; the rest follows without descriptors.
        while n > 0 && n < bytes.count {
            let rest = copy.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + n, $0.count - n, Int32(MSG_NOSIGNAL)) }
            if rest > 0 { n += rest } else if !(rest < 0 && errno == EINTR) { break }
        }
        // Short or failed sends are what a test of a backend that hangs up sees; the reply
        // that does not come says so.
    }

    private func sendOnce(_ copy: inout [UInt8], control: UnsafeMutableRawPointer, controlSize: Int) -> Int {
        copy.withUnsafeMutableBytes { buf -> Int in
            var iov = iovec(iov_base: buf.baseAddress, iov_len: buf.count)
            return withUnsafeMutablePointer(to: &iov) { iovp in
                var msg = msghdr()
                msg.msg_iov = iovp
                msg.msg_iovlen = 1
                if controlSize > 0 {
                    msg.msg_control = control
                    msg.msg_controllen = controlSize
                }
                return sendmsg(fd, &msg, Int32(MSG_NOSIGNAL))
            }
        }
    }

    func send(_ request: VhostUserRequest, flags: UInt32 = VhostUserHeader.version, payload: [UInt8] = [], fds: [Int32] = []) {
        sendRaw(VhostUserHeader(request: request.rawValue, flags: flags, size: UInt32(payload.count)).encoded + payload, fds: fds)
    }

    /// Reads one message; `nil` on EOF or timeout.
    func receive() -> (header: VhostUserHeader, payload: [UInt8])? {
        var header = [UInt8](repeating: 0, count: 12)
        guard receiveFully(&header) else { return nil }
        let h = VhostUserHeader(decoding: header)
        var payload = [UInt8](repeating: 0, count: Int(h.size))
        guard receiveFully(&payload) else { return nil }
        return (h, payload)
    }

    /// Fills `buffer` from the socket, from `start` on. A signal (the test process reaps
    /// child processes: SIGCHLD) interrupts a `recv` on a socket with a receive timeout even
    /// with `SA_RESTART`, and `MSG_WAITALL` then returns what it has so far: both are
    /// continued, or a reply would be lost and the next one read in its place. False on EOF
    /// or once the receive timeout passes with nothing more.
    func receiveFully(_ buffer: inout [UInt8], from start: Int = 0) -> Bool {
        var got = start
        while got < buffer.count {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, $0.count - got, Int32(MSG_WAITALL)) }
            if n > 0 { got += n; continue }
            if n < 0 && errno == EINTR { continue }
            return false
        }
        return true
    }

    /// Reads one message and the descriptors passed with it (owned by the caller); `nil` on
    /// EOF or timeout.
    func receiveWithDescriptors() -> (header: VhostUserHeader, payload: [UInt8], fds: [Int32])? {
        var header = [UInt8](repeating: 0, count: 12)
        let controlSize = 64
        let control = UnsafeMutableRawPointer.allocate(byteCount: controlSize, alignment: 8)
        defer { control.deallocate() }
        control.initializeMemory(as: UInt8.self, repeating: 0, count: controlSize)
        var controlLength = 0
        let n = header.withUnsafeMutableBytes { buf -> Int in
            var iov = iovec(iov_base: buf.baseAddress, iov_len: 12)
            return withUnsafeMutablePointer(to: &iov) { iovp in
                var msg = msghdr()
                msg.msg_iov = iovp
                msg.msg_iovlen = 1
                msg.msg_control = control
                msg.msg_controllen = controlSize
                var r: Int
                repeat { r = recvmsg(fd, &msg, Int32(MSG_WAITALL)) } while r < 0 && errno == EINTR
                controlLength = msg.msg_controllen
                return r
            }
        }
        // Descriptors come with the first byte; the rest of a header split by a signal follows.
        guard n > 0, receiveFully(&header, from: n) else { return nil }
        var fds: [Int32] = []
        if controlLength >= 20, control.load(fromByteOffset: 12, as: Int32.self) == Int32(SCM_RIGHTS) {
            let count = (control.load(as: Int.self) - 16) / 4
            for i in 0..<count { fds.append(control.load(fromByteOffset: 16 + 4 * i, as: Int32.self)) }
        }
        let h = VhostUserHeader(decoding: header)
        var payload = [UInt8](repeating: 0, count: Int(h.size))
        guard receiveFully(&payload) else { return nil }
        return (h, payload, fds)
    }

    /// `GET_INFLIGHT_FD` for `queues` queues of `queueSize`: the reply payload and the buffer's descriptor.
    func getInflightFD(queues: UInt16 = 1, queueSize: UInt16) -> (payload: [UInt8], fd: Int32)? {
        send(.getInflightFD, payload: Self.inflight(size: 0, offset: 0, queues: queues, queueSize: queueSize))
        guard let r = receiveWithDescriptors(), r.header.request == VhostUserRequest.getInflightFD.rawValue,
              r.fds.count == 1 else { return nil }
        return (r.payload, r.fds[0])
    }

    static func inflight(size: UInt64, offset: UInt64, queues: UInt16, queueSize: UInt16) -> [UInt8] {
        le64(size) + le64(offset) + le(UInt64(queues), 2) + le(UInt64(queueSize), 2) + le(0, 4)
    }

    /// Sends a request and returns its reply payload.
    func call(_ request: VhostUserRequest, payload: [UInt8] = []) -> [UInt8]? {
        send(request, payload: payload)
        guard let r = receive(), r.header.request == request.rawValue,
              r.header.flags == VhostUserHeader.version | VhostUserHeader.replyFlag else { return nil }
        return r.payload
    }

    func getU64(_ request: VhostUserRequest) -> UInt64? {
        call(request).map { Self.u64($0) }
    }

    /// A round trip that proves every earlier message was handled.
    func sync() -> Bool { getU64(.getFeatures) != nil }

    /// True once the backend closed its end (reads EOF), within the receive timeout.
    func waitForClose() -> Bool {
        var byte: UInt8 = 0
        while true {
            let n = recv(fd, &byte, 1, 0)
            if n == 0 { return true }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return errno == ECONNRESET }
        }
    }

    // MARK: Payloads

    static func u64(_ b: [UInt8]) -> UInt64 { b.prefix(8).enumerated().reduce(0) { $0 | UInt64($1.1) << (8 * UInt64($1.0)) } }
    static func le(_ v: UInt64, _ width: Int) -> [UInt8] { (0..<width).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }
    static func le64(_ v: UInt64) -> [UInt8] { le(v, 8) }
    static func state(_ index: UInt32, _ num: UInt32) -> [UInt8] { le(UInt64(index), 4) + le(UInt64(num), 4) }

    static func memTable(_ regions: [(gpa: UInt64, size: UInt64, ua: UInt64, offset: UInt64)]) -> [UInt8] {
        var out = le(UInt64(regions.count), 4) + le(0, 4)
        for r in regions { out += le64(r.gpa) + le64(r.size) + le64(r.ua) + le64(r.offset) }
        return out
    }

    static func vringAddr(_ index: UInt32, desc: UInt64, used: UInt64, avail: UInt64, flags: UInt32 = 0) -> [UInt8] {
        le(UInt64(index), 4) + le(UInt64(flags), 4) + le64(desc) + le64(used) + le64(avail) + le64(0)
    }

    // MARK: Set-up sequences

    /// Features, protocol features (all offered), owner and the whole-RAM memory table.
    func negotiate(features extra: UInt64 = 0, protocolFeatures: VhostUserProtocolFeatures = .supported) {
        let offered = getU64(.getFeatures) ?? 0
        send(.setProtocolFeatures, payload: Self.le64(protocolFeatures.rawValue))
        send(.setOwner)
        send(.setFeatures, payload: Self.le64((offered & (VirtioFeatureBits.version1 | VhostUserFeature.protocolFeatures)) | extra))
        send(.setMemTable, payload: Self.memTable([(0, UInt64(Self.ramSize), Self.userBase, 0)]), fds: [memoryFD])
    }

    /// Sets up ring 0 (size, base, addresses, kick, call, err) and optionally enables it.
    func setUpRing(base: UInt16 = 0, enable: Bool = true) {
        send(.setVringNum, payload: Self.state(0, UInt32(ringSize)))
        send(.setVringBase, payload: Self.state(0, UInt32(base)))
        send(.setVringAddr, payload: Self.vringAddr(0, desc: Self.userBase + Self.descGPA, used: Self.userBase + Self.usedGPA,
                                                    avail: Self.userBase + Self.availGPA))
        send(.setVringKick, payload: Self.le64(0), fds: [kick.fd])
        send(.setVringCall, payload: Self.le64(0), fds: [call.fd])
        send(.setVringErr, payload: Self.le64(0), fds: [err.fd])
        if enable { send(.setVringEnable, payload: Self.state(0, 1)) }
    }

    // MARK: Guest RAM and the ring

    func write(_ bytes: [UInt8], at gpa: UInt64) {
        for (i, b) in bytes.enumerated() { ram.storeBytes(of: b, toByteOffset: Int(gpa) + i, as: UInt8.self) }
    }

    func read(at gpa: UInt64, count: Int) -> [UInt8] {
        (0..<count).map { ram.load(fromByteOffset: Int(gpa) + $0, as: UInt8.self) }
    }

    func read16(at gpa: UInt64) -> UInt16 { ram.loadUnaligned(fromByteOffset: Int(gpa), as: UInt16.self) }
    func read32(at gpa: UInt64) -> UInt32 { ram.loadUnaligned(fromByteOffset: Int(gpa), as: UInt32.self) }

    func writeDescriptor(_ index: UInt16, address: UInt64, length: UInt32, flags: UInt16, next: UInt16) {
        let at = Self.descGPA + 16 * UInt64(index)
        write(Self.le64(address) + Self.le(UInt64(length), 4) + Self.le(UInt64(flags), 2) + Self.le(UInt64(next), 2), at: at)
    }

    /// Makes a chain available: `input` readable, then `outputLength` writable bytes; returns
    /// the GPA of the writable buffer. `nextOverride` corrupts the chain's link for error tests.
    @discardableResult
    func submit(_ input: [UInt8], outputLength: Int, nextOverride: UInt16? = nil, kickNow: Bool = true) -> UInt64 {
        let head = nextDescriptor % ringSize
        let second = (head + 1) % ringSize
        nextDescriptor &+= 2
        let inGPA = Self.dataGPA + UInt64(head) * 0x1000
        let outGPA = inGPA + 0x800
        write(input, at: inGPA)
        writeDescriptor(head, address: inGPA, length: UInt32(input.count), flags: 1, next: nextOverride ?? second)
        writeDescriptor(second, address: outGPA, length: UInt32(outputLength), flags: 2, next: 0)
        makeAvailable(head, kickNow: kickNow)
        return outGPA
    }

    /// Puts `head` (a chain already in the descriptor table) in the next avail slot and
    /// publishes the new avail index.
    func makeAvailable(_ head: UInt16, kickNow: Bool = true) {
        write(Self.le(UInt64(head), 2), at: Self.availGPA + 4 + 2 * UInt64(availIndex % ringSize))
        availIndex &+= 1
        write(Self.le(UInt64(availIndex), 2), at: Self.availGPA + 2)
        if kickNow { try? kick.signal() }
    }

    /// The avail index the frontend published last.
    var publishedAvailIndex: UInt16 { availIndex }

    var usedIndex: UInt16 { read16(at: Self.usedGPA + 2) }
    func usedElement(_ slot: UInt16) -> (id: UInt32, length: UInt32) {
        let at = Self.usedGPA + 4 + 8 * UInt64(slot % ringSize)
        return (read32(at: at), read32(at: at + 4))
    }

    /// Waits (bounded) until the used index reaches `target`, re-checking on each call notification.
    /// Waits up to 60 s (the suite runs beside lab boots on a loaded 2-core machine).
    func waitForUsed(_ target: UInt16) -> Bool {
        for _ in 0..<600 where usedIndex != target { _ = call.wait(timeoutMs: 100) }
        return usedIndex == target
    }
}

/// Feature bits the fake frontend acks.
enum VirtioFeatureBits {
    static let version1: UInt64 = 1 << 32
    static let eventIndex: UInt64 = 1 << 29
}
