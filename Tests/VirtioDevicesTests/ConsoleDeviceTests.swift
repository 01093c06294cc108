import DeviceModel
import Foundation
import HostIO
import Testing
@testable import VirtioDevices

/// A connected AF_UNIX stream pair: `device` for the backend, `peer` for the test.
struct SocketPair {
    let device: Int32
    let peer: Int32
    init() throws {
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw TestFailure("socketpair: errno \(errno)")
        }
        device = fds[0]
        peer = fds[1]
    }
}

/// Reads from `fd` until `count` bytes arrived (bounded wait: a hang guard only).
func readExactly(_ fd: Int32, _ count: Int, timeout: Duration = .seconds(20)) throws -> [UInt8] {
    var out: [UInt8] = []
    let deadline = ContinuousClock.now + timeout
    while out.count < count {
        guard ContinuousClock.now < deadline else { throw TestFailure("read \(out.count) of \(count) bytes before timing out") }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, 100) > 0 else { continue }
        var buf = [UInt8](repeating: 0, count: min(65536, count - out.count))
        let n = read(fd, &buf, buf.count)
        if n <= 0 { throw TestFailure("read returned \(n) (errno \(errno)) after \(out.count) bytes") }
        out += buf[0..<n]
    }
    return out
}

func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
    var done = 0
    while done < bytes.count {
        // send with MSG_NOSIGNAL: a test must not die of SIGPIPE.
        var n = bytes[done...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if n < 0 && errno == ENOTSOCK { n = bytes[done...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
        guard n > 0 else { throw TestFailure("write: errno \(errno)") }
        done += n
    }
}

func control(_ id: UInt32, _ event: UInt16, _ value: UInt16) -> [UInt8] {
    ConsoleControlMessage(id: id, event: ConsoleControlMessage.Event(rawValue: event)!, value: value).bytes
}

final class ConsoleFixture {
    let guest: TestGuest
    let irq = RecordingInterrupts()
    let device: VirtioConsoleDevice
    var queues: [TestVirtqueue] = []

    init(backend: any ConsoleBackend, multiport: Bool = false, size: ConsoleSize? = nil, name: String? = nil,
         acceptMultiport: Bool = true) throws {
        device = try VirtioConsoleDevice(configuration: .init(backend: backend, multiport: multiport, size: size, portName: name))
        guest = try TestGuest()
        var features = device.offeredFeatures
        if !acceptMultiport { features &= ~VirtioConsoleFeature.multiport }
        let count = features & VirtioConsoleFeature.multiport != 0 ? 4 : 2
        for _ in 0..<count { queues.append(try guest.makeQueue(size: 32)) }
        try device.activate(try guest.activation(features: features, queues: queues, interrupts: irq))
    }

    deinit { device.reset() }

    var rx: TestVirtqueue { queues[0] }
    var tx: TestVirtqueue { queues[1] }
    var controlRx: TestVirtqueue { queues[2] }
    var controlTx: TestVirtqueue { queues[3] }

    /// Sends `bytes` from the guest and waits until the device consumed the chain.
    func transmit(_ bytes: [UInt8]) throws {
        try tx.post([.readable(bytes)])
        try tx.notify()
        let used = try tx.waitUsed(1)
        #expect(used.count == 1 && used[0].length == 0)
    }

    /// Waits for one filled receive buffer and returns its bytes.
    func receive(_ chain: PostedChain, on q: TestVirtqueue? = nil) throws -> [UInt8] {
        let used = try (q ?? rx).waitUsed(1)
        #expect(UInt16(used[0].id) == chain.head)
        var out: [UInt8] = []
        var left = Int(used[0].length)
        for w in chain.writable where left > 0 {
            out += try guest.bytes(at: w.address, count: min(left, w.length))
            left -= min(left, w.length)
        }
        return out
    }

    /// The next control message the device sent.
    func nextControl(_ chain: PostedChain) throws -> ConsoleControlMessage {
        let bytes = try receive(chain, on: controlRx)
        return try #require(ConsoleControlMessage(bytes))
    }
}

@Suite("virtio-console")
struct ConsoleDeviceTests {
    @Test("echo through a socketpair: guest output reaches the peer, the peer's reply reaches the guest")
    func echo() throws {
        let pair = try SocketPair()
        defer { close(pair.peer) }
        let f = try ConsoleFixture(backend: FileDescriptorConsoleBackend(input: pair.device, output: pair.device, closeOnStop: true))
        let rxChain = try f.rx.post([.writable(8), .writable(56)])
        try f.rx.notify()
        let message = Array("hello, host\n".utf8)
        try f.transmit(message)
        // The test is the echo server on the host side.
        let got = try readExactly(pair.peer, message.count)
        #expect(got == message)
        try writeAll(pair.peer, got)
        #expect(try f.receive(rxChain) == message)
        #expect(waitUntil { f.irq.usedSignals(0) >= 1 && f.irq.usedSignals(1) >= 1 })
        #expect(f.irq.needsReset.isEmpty)
    }

    @Test("input waits in the host while the guest has no receive buffers, then flows")
    func backPressure() throws {
        let pair = try SocketPair()
        defer { close(pair.peer) }
        let f = try ConsoleFixture(backend: FileDescriptorConsoleBackend(input: pair.device, output: pair.device, closeOnStop: true))
        try writeAll(pair.peer, Array("typed early".utf8))
        f.device.service.loop.sync {}
        #expect(try f.rx.usedIndex() == 0)
        let a = try f.rx.post([.writable(5)])
        let b = try f.rx.post([.writable(64)])
        try f.rx.notify()
        #expect(try f.receive(a) == Array("typed".utf8))
        #expect(try f.receive(b) == Array(" early".utf8))
    }

    @Test("large output against a full socket buffer: parked on EAGAIN, every byte delivered in order")
    func transmitBackPressure() throws {
        let pair = try SocketPair()
        defer { close(pair.peer) }
        var small: Int32 = 4096
        setsockopt(pair.device, SOL_SOCKET, SO_SNDBUF, &small, socklen_t(4))
        let f = try ConsoleFixture(backend: FileDescriptorConsoleBackend(input: pair.device, output: pair.device, closeOnStop: true))
        let payload = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ $0 >> 9) }
        try f.tx.post([.readable(Array(payload[..<300_000])), .readable(Array(payload[300_000...]))])
        try f.tx.post([.readable([0x21])])
        try f.tx.notify()
        let got = try readExactly(pair.peer, payload.count + 1)
        #expect(got == payload + [0x21])
        #expect(try f.tx.waitUsed(2).count == 2)
    }

    @Test("multiport: DEVICE_READY → DEVICE_ADD; PORT_READY → CONSOLE_PORT, RESIZE, PORT_NAME, PORT_OPEN; input only once the guest opens the port")
    func multiportHandshake() throws {
        let pair = try SocketPair()
        var peerOpen = true
        defer { if peerOpen { close(pair.peer) } }
        let f = try ConsoleFixture(backend: FileDescriptorConsoleBackend(input: pair.device, output: pair.device, closeOnStop: true),
                                   multiport: true, size: ConsoleSize(columns: 132, rows: 43), name: "org.swiftdm.console.0")
        #expect(f.queues.count == 4)
        var controlBuffers = try (0..<8).map { _ in try f.controlRx.post([.writable(64)]) }
        try f.controlRx.notify()
        let rxChain = try f.rx.post([.writable(64)])
        try f.rx.notify()

        try f.controlTx.post([.readable(control(0xFFFF_FFFF, 0, 1))])   // DEVICE_READY
        try f.controlTx.notify()
        #expect(try f.nextControl(controlBuffers.removeFirst()) == .init(id: 0, event: .deviceAdd, value: 0))

        try f.controlTx.post([.readable(control(0, 3, 1))])             // PORT_READY
        try f.controlTx.notify()
        #expect(try f.nextControl(controlBuffers.removeFirst()) == .init(id: 0, event: .consolePort, value: 1))
        #expect(try f.nextControl(controlBuffers.removeFirst()) == .resize(port: 0, ConsoleSize(columns: 132, rows: 43)))
        #expect(try f.nextControl(controlBuffers.removeFirst()) == .init(id: 0, event: .portName, value: 0, payload: Array("org.swiftdm.console.0".utf8)))
        #expect(try f.nextControl(controlBuffers.removeFirst()) == .init(id: 0, event: .portOpen, value: 1))

        // Until the guest opens the port, host input stays in the host.
        try writeAll(pair.peer, Array("login: ".utf8))
        f.device.service.loop.sync {}
        #expect(try f.rx.usedIndex() == 0)
        try f.controlTx.post([.readable(control(0, 6, 1))])             // PORT_OPEN from the guest
        try f.controlTx.notify()
        #expect(try f.receive(rxChain) == Array("login: ".utf8))

        // A resize is announced on the control queue.
        f.device.resize(ConsoleSize(columns: 80, rows: 25))
        #expect(try f.nextControl(controlBuffers.removeFirst()) == .resize(port: 0, ConsoleSize(columns: 80, rows: 25)))

        // The host side going away is announced too.
        close(pair.peer)
        peerOpen = false
        try f.transmit(Array("bye".utf8))   // the write fails with EPIPE: output is dropped
        #expect(try f.nextControl(controlBuffers.removeFirst()) == .init(id: 0, event: .portOpen, value: 0))
        #expect(f.irq.needsReset.isEmpty)
    }

    @Test("configuration space: cols, rows, max_nr_ports; resize raises a config change without multiport")
    func configSpace() throws {
        let pair = try SocketPair()
        defer { close(pair.peer) }
        let f = try ConsoleFixture(backend: FileDescriptorConsoleBackend(input: pair.device, output: pair.device, closeOnStop: true),
                                   multiport: true, size: ConsoleSize(columns: 100, rows: 30), acceptMultiport: false)
        #expect(f.queues.count == 2)
        #expect(f.device.readConfig() == [100, 0, 30, 0, 1, 0, 0, 0, 0, 0, 0, 0])
        #expect(f.device.offeredFeatures & VirtioConsoleFeature.size != 0)
        f.device.resize(ConsoleSize(columns: 120, rows: 40))
        #expect(waitUntil { f.irq.configChanges == 1 })
        #expect(f.device.readConfig().prefix(4) == [120, 0, 40, 0])
        // emerg_wr sends one byte straight out.
        f.device.writeConfig(offset: 8, bytes: [0x41, 0, 0, 0])
        #expect(try readExactly(pair.peer, 1) == [0x41])
    }

    @Test("a device-readable receive buffer or device-writable transmit buffer → NEEDS_RESET")
    func malformed() throws {
        let pair = try SocketPair()
        defer { close(pair.peer) }
        let f = try ConsoleFixture(backend: FileDescriptorConsoleBackend(input: pair.device, output: pair.device, closeOnStop: true))
        try f.tx.post([.readable([1]), .writable(4)])
        try f.tx.notify()
        guard case .malformedRequest(1, _, _)? = f.irq.waitForNeedsReset() else {
            Issue.record("expected NEEDS_RESET for a writable transmit buffer, got \(f.irq.needsReset)")
            return
        }

        let pair2 = try SocketPair()
        defer { close(pair2.peer) }
        let g = try ConsoleFixture(backend: FileDescriptorConsoleBackend(input: pair2.device, output: pair2.device, closeOnStop: true))
        try g.rx.post([.readable([1]), .writable(4)])
        try g.rx.notify()
        try writeAll(pair2.peer, [1])
        guard case .malformedRequest(0, _, _)? = g.irq.waitForNeedsReset() else {
            Issue.record("expected NEEDS_RESET for a readable receive buffer, got \(g.irq.needsReset)")
            return
        }
    }

    @Test("reset with output parked on EAGAIN: returns, and nothing is pushed afterwards")
    func resetWhileParked() throws {
        let pair = try SocketPair()
        defer { close(pair.peer) }
        var small: Int32 = 4096
        setsockopt(pair.device, SOL_SOCKET, SO_SNDBUF, &small, socklen_t(4))
        let f = try ConsoleFixture(backend: FileDescriptorConsoleBackend(input: pair.device, output: pair.device, closeOnStop: true))
        try f.tx.post([.readable(Array(repeating: 7, count: 1 << 20))])
        try f.tx.notify()
        _ = try readExactly(pair.peer, 1)   // output started and then blocked
        f.device.reset()
        let index = try f.tx.usedIndex()
        _ = try? readExactly(pair.peer, 65536, timeout: .milliseconds(200))
        f.device.service.loop.sync {}
        #expect(try f.tx.usedIndex() == index)
    }

    @Test("unix socket backend: one client at a time; the next waits in the backlog until the first leaves")
    func unixSocket() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("console.sock")
        let backend = try UnixSocketConsoleBackend(path: path)
        let f = try ConsoleFixture(backend: backend)
        let first = try connectUnix(path)
        let rx1 = try f.rx.post([.writable(32)])
        try f.rx.notify()
        try writeAll(first, Array("first".utf8))
        #expect(try f.receive(rx1) == Array("first".utf8))
        try f.transmit(Array("ack 1".utf8))
        #expect(try readExactly(first, 5) == Array("ack 1".utf8))

        // A second client connects and types while the first is still there: it waits.
        let second = try connectUnix(path)
        defer { close(second) }
        try writeAll(second, Array("second".utf8))
        let rx2 = try f.rx.post([.writable(32)])
        try f.rx.notify()
        f.device.service.loop.sync {}
        #expect(try f.rx.usedIndex() == 1)

        close(first)
        #expect(try f.receive(rx2) == Array("second".utf8))
        try f.transmit(Array("ack 2".utf8))
        #expect(try readExactly(second, 5) == Array("ack 2".utf8))
        #expect(f.irq.needsReset.isEmpty)
    }

    @Test("unix socket backend: a path too long for sockaddr_un is refused with the path and the limit")
    func unixSocketPathTooLong() throws {
        let path = "/tmp/" + String(repeating: "s", count: 200)
        #expect(throws: ConsoleBackendError.invalidSocketPath(path, maximumBytes: 107)) {
            _ = try UnixSocketConsoleBackend(path: path)
        }
        #expect(throws: ConsoleBackendError.invalidSocketPath("", maximumBytes: 107)) {
            _ = try UnixSocketConsoleBackend(path: "")
        }
    }

    @Test("pty backend: a terminal program on the slave talks to the guest", .enabled(if: FileManager.default.fileExists(atPath: "/dev/ptmx")))
    func pseudoTerminal() throws {
        let backend = try PseudoTerminalConsoleBackend(reconnectInterval: .milliseconds(20))
        let f = try ConsoleFixture(backend: backend)
        let slave = open(backend.path, O_RDWR | O_NOCTTY)
        #expect(slave >= 0, "open \(backend.path): errno \(errno)")
        defer { close(slave) }
        var t = termios()
        tcgetattr(slave, &t)
        cfmakeraw(&t)
        tcsetattr(slave, TCSANOW, &t)
        let port = f.device.port
        #expect(waitUntil { f.device.service.loop.sync { port.stream != nil } })
        try f.transmit(Array("guest says hi".utf8))
        #expect(try readExactly(slave, 13) == Array("guest says hi".utf8))
        let rxChain = try f.rx.post([.writable(32)])
        try f.rx.notify()
        try writeAll(slave, Array("typed".utf8))
        #expect(try f.receive(rxChain) == Array("typed".utf8))
    }
}

/// `connect(2)` to a UNIX stream socket.
func connectUnix(_ path: String) throws -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { p in for (i, b) in path.utf8.enumerated() { p[i] = b } }
    let rc = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
    guard rc == 0 else { throw TestFailure("connect \(path): errno \(errno)") }
    return fd
}
