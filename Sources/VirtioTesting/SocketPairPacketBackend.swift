import Glibc
import HostIO
import Synchronization

/// A packet backend over a SOCK_SEQPACKET socketpair, for tests and benchmarks of packet
/// devices: the caller holds the other end (``peer``), sees exactly the frames (12-byte vnet
/// header included) the device sends, and injects frames for it to receive.
public final class SocketPairPacketBackend: PacketBackend, @unchecked Sendable {
    // SAFETY (@unchecked): the fds and `supportedOffloads` are immutable; the recorded
    // offloads and the read counter are behind a Mutex/Atomic.
    public let pollFD: Int32
    public let peer: Int32
    public let supportedOffloads: PacketOffloads
    /// Every `setOffloads` call, oldest first (what `TUNSETOFFLOAD` would have received).
    public let offloads = Mutex<[PacketOffloads]>([])
    /// Calls of `receive(into:)` that returned a frame.
    public let framesRead = Atomic<Int>(0)

    /// A backend handling `supportedOffloads`; `sendBuffer` shrinks the device side's
    /// SO_SNDBUF so that sends hit EAGAIN while the peer does not read.
    public init(supportedOffloads: PacketOffloads = .all, sendBuffer: Int32? = nil) {
        var fds: [Int32] = [0, 0]
        // A host that cannot make a socketpair cannot run any packet test.
        precondition(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds) == 0,
                     "socketpair(AF_UNIX, SOCK_SEQPACKET): errno \(errno)")
        pollFD = fds[0]
        peer = fds[1]
        self.supportedOffloads = supportedOffloads
        if var size = sendBuffer { setsockopt(pollFD, SOL_SOCKET, SO_SNDBUF, &size, 4) }
    }

    deinit {
        close(pollFD)
        close(peer)
    }

    public func send(_ segments: [UnsafeRawBufferPointer]) throws(PacketBackendError) -> Int? {
        var iov = segments.map { iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count) }
        let n = writev(pollFD, &iov, Int32(iov.count))
        if n < 0 { if errno == EAGAIN { return nil }; throw .sendFailed(errno: errno) }
        return n
    }

    public func receive(into buffer: UnsafeMutableRawBufferPointer) throws(PacketBackendError) -> Int? {
        let n = recv(pollFD, buffer.baseAddress, buffer.count, 0)
        if n < 0 { if errno == EAGAIN { return nil }; throw .receiveFailed(errno: errno) }
        framesRead.add(1, ordering: .relaxed)
        return n
    }

    public func setOffloads(_ offloads: PacketOffloads) throws(PacketBackendError) {
        self.offloads.withLock { $0.append(offloads) }
    }

    public var lastOffloads: PacketOffloads? { offloads.withLock { $0.last } }

    /// Injects one frame (vnet header first) as if it arrived from the network.
    public func inject(_ frame: [UInt8]) {
        let n = frame.withUnsafeBytes { Glibc.send(peer, $0.baseAddress, $0.count, 0) }
        precondition(n == frame.count, "inject: send returned \(n), errno \(errno)")
    }

    /// The next frame the device sent, waiting up to `timeoutMs`.
    public func nextSent(timeoutMs: Int32 = 5000) -> [UInt8]? {
        var p = pollfd(fd: peer, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, timeoutMs) == 1 else { return nil }
        var buf = [UInt8](repeating: 0, count: 70_000)
        let n = buf.withUnsafeMutableBytes { recv(peer, $0.baseAddress, $0.count, 0) }
        return n > 0 ? Array(buf[0..<n]) : nil
    }
}
