import Virtio
#if canImport(Glibc)
import Glibc
#endif

/// Why the vhost-user backend refused a message, a connection or a socket.
///
/// Every case that a frontend can cause ends the connection: the frontend is a separate,
/// untrusted process, and a half-understood request must not leave the device running on a
/// guess. The message names the offending value.
public enum VhostUserError: Error, Equatable, CustomStringConvertible {
    // MARK: Socket and system calls
    /// A system call on the socket or a passed descriptor failed.
    case system(call: String, errno: Int32)
    /// The socket path is longer than `sockaddr_un` allows.
    case socketPathTooLong(String, maximum: Int)
    /// Something other than a stale socket exists at the path.
    case socketPathOccupied(String)
    /// Another process is serving the socket path.
    case socketInUse(String)
    /// The frontend closed the connection in the middle of a message.
    case truncatedMessage(request: UInt32, received: Int, expected: Int)
    /// The frontend sent part of a message and then nothing for too long.
    case stalledMessage(request: UInt32?)

    // MARK: Framing
    /// The header's version bits are not 1.
    case unsupportedVersion(flags: UInt32)
    /// The header announces a payload larger than any request of this kind can have.
    case payloadTooLarge(request: String, size: UInt32, maximum: Int)
    /// The payload size does not match the request's layout.
    case badPayloadSize(request: String, size: Int, expected: String)
    /// More descriptors arrived than the protocol allows in one message.
    case tooManyFileDescriptors(request: String, maximum: Int)
    /// The request carried a different number of descriptors than it needs.
    case unexpectedFileDescriptors(request: String, received: Int, expected: Int)
    /// A passed descriptor is not the kind of file the request needs: kick, call and err
    /// descriptors must be eventfds (a pipe can block the backend, an always-readable file
    /// spins its queue thread), memory descriptors regular files or memfds. `found` is what
    /// `/proc/self/fd` names it (`pipe:[…]`, `/dev/null`, …).
    case wrongDescriptorKind(request: String, expected: String, found: String)
    /// An unknown request code that the frontend expects an answer to.
    case unknownRequest(UInt32)
    /// A request that is only valid after a feature the backend did not offer or the frontend did not ack.
    case notNegotiated(request: String, feature: String)
    /// A backend-side feature the frontend asked for that this backend does not provide.
    case unsupported(request: String, reason: String)

    // MARK: Features
    /// `SET_FEATURES` acked bits the backend never offered.
    case featuresNotOffered(acked: UInt64, offered: UInt64)
    /// `SET_PROTOCOL_FEATURES` acked bits the backend never offered.
    case protocolFeaturesNotOffered(acked: UInt64, offered: UInt64)

    // MARK: Memory table
    /// `SET_MEM_TABLE` with no regions or more than the protocol's limit.
    case invalidRegionCount(Int, maximum: Int)
    /// A region of size zero.
    case emptyRegion(index: Int)
    /// A region whose guest, user or file range wraps around 2^64.
    case regionOverflow(index: Int, space: String, start: UInt64, size: UInt64)
    /// Two regions overlap in guest-physical or frontend-virtual space.
    case regionsOverlap(space: String, first: Int, second: Int)
    /// The descriptor is shorter than the region it should back (touching it would SIGBUS).
    case regionBeyondFile(index: Int, end: UInt64, fileSize: Int64)
    /// The frontend shrank a file behind guest RAM after handing it over: an access faulted
    /// (SIGBUS, caught: the page now reads as zeros) and the memory can no longer be trusted.
    case guestMemoryTruncated
    /// `mmap` of a region failed.
    case mapFailed(index: Int, length: UInt64, errno: Int32)

    // MARK: Rings
    /// A ring index the device does not have.
    case invalidRingIndex(request: String, index: UInt32, count: Int)
    /// `SET_VRING_NUM` with a size that is zero, not a power of two, or above 32768.
    case invalidRingSize(index: Int, size: UInt32)
    /// `SET_VRING_BASE` with an index above 16 bits (split rings only).
    case invalidRingBase(index: Int, base: UInt32)
    /// A ring address given before any memory table.
    case noMemoryTable(request: String)
    /// A ring part that does not lie inside one memory region.
    case ringAddressUnmapped(index: Int, part: String, userAddress: UInt64, length: Int)
    /// The ring's layout is unusable (alignment, size), as the split-virtqueue checks found.
    case invalidRing(index: Int, VirtqueueError)
    /// A ring part's address was never set before the ring was started.
    case ringNotConfigured(index: Int, missing: String)

    // MARK: Inflight tracking
    /// `GET_INFLIGHT_FD`/`SET_INFLIGHT_FD` describing a buffer for no queues, more queues than
    /// the device has, or a queue size that is not a power of two in 1...32768.
    case invalidInflightShape(request: String, queues: UInt16, queueSize: UInt16, deviceQueues: Int)
    /// `SET_INFLIGHT_FD` whose size, or file, is smaller than the layout it announces needs.
    case inflightBufferTooSmall(size: UInt64, offset: UInt64, needed: UInt64, fileSize: Int64)

    // MARK: Configuration space
    /// `GET_CONFIG`/`SET_CONFIG` outside the 256-byte configuration window.
    case configOutOfRange(offset: UInt32, size: UInt32)

    public var description: String {
        switch self {
        case .system(let call, let e): "\(call) failed: \(String(cString: strerror(e))) (errno \(e))"
        case .socketPathTooLong(let p, let m): "socket path '\(p)' is longer than \(m) bytes"
        case .socketPathOccupied(let p): "'\(p)' exists and is not a socket; refusing to replace it"
        case .socketInUse(let p): "another backend is already listening on '\(p)'"
        case .truncatedMessage(let r, let got, let want):
            "connection closed inside request \(VhostUserRequest.name(of: r)): got \(got) of \(want) bytes"
        case .stalledMessage(let r):
            "frontend stopped sending in the middle of \(r.map { VhostUserRequest.name(of: $0) } ?? "a message header")"
        case .unsupportedVersion(let f): "message flags 0x\(String(f, radix: 16)) do not carry protocol version 1"
        case .payloadTooLarge(let r, let s, let m): "\(r) announces a \(s)-byte payload (at most \(m) allowed)"
        case .badPayloadSize(let r, let s, let e): "\(r) payload is \(s) bytes, expected \(e)"
        case .tooManyFileDescriptors(let r, let m): "\(r) carried more than \(m) file descriptors"
        case .unexpectedFileDescriptors(let r, let got, let want): "\(r) carried \(got) file descriptors, expected \(want)"
        case .wrongDescriptorKind(let r, let expected, let found): "\(r) passed '\(found)' (needs: \(expected))"
        case .unknownRequest(let r): "unknown request \(r) with NEED_REPLY"
        case .notNegotiated(let r, let f): "\(r) requires \(f), which was not negotiated"
        case .unsupported(let r, let why): "\(r) is not supported: \(why)"
        case .featuresNotOffered(let a, let o):
            "SET_FEATURES acked 0x\(String(a, radix: 16)) but only 0x\(String(o, radix: 16)) was offered (extra 0x\(String(a & ~o, radix: 16)))"
        case .protocolFeaturesNotOffered(let a, let o):
            "SET_PROTOCOL_FEATURES acked 0x\(String(a, radix: 16)) but only 0x\(String(o, radix: 16)) was offered"
        case .invalidRegionCount(let n, let m): "memory table has \(n) regions (1...\(m) allowed)"
        case .emptyRegion(let i): "memory region \(i) has size 0"
        case .regionOverflow(let i, let space, let start, let size):
            "memory region \(i): \(space) range 0x\(String(start, radix: 16))+0x\(String(size, radix: 16)) overflows"
        case .regionsOverlap(let space, let a, let b): "memory regions \(a) and \(b) overlap in \(space) space"
        case .regionBeyondFile(let i, let end, let size):
            "memory region \(i) ends at file offset 0x\(String(end, radix: 16)) but its file has only \(size) bytes"
        case .guestMemoryTruncated: "the frontend truncated the file behind guest memory (an access faulted)"
        case .mapFailed(let i, let len, let e): "mmap of memory region \(i) (\(len) bytes) failed: errno \(e)"
        case .invalidRingIndex(let r, let i, let n): "\(r) names ring \(i) but the device has \(n)"
        case .invalidRingSize(let i, let s): "ring \(i) size \(s) is not a power of two in 1...32768"
        case .invalidRingBase(let i, let b): "ring \(i) base \(b) does not fit a split ring's 16-bit index"
        case .noMemoryTable(let r): "\(r) before SET_MEM_TABLE"
        case .ringAddressUnmapped(let i, let part, let ua, let len):
            "ring \(i) \(part) at frontend address 0x\(String(ua, radix: 16))+\(len) is outside every memory region"
        case .invalidRing(let i, let e): "ring \(i): \(e)"
        case .ringNotConfigured(let i, let missing): "ring \(i) started without \(missing)"
        case .invalidInflightShape(let r, let q, let size, let n):
            "\(r) describes \(q) queues of \(size) entries (needs 1...\(n) queues of a power of two up to 32768)"
        case .inflightBufferTooSmall(let size, let offset, let needed, let file):
            "SET_INFLIGHT_FD buffer of \(size) bytes at file offset \(offset) (file has \(file)) is smaller than the \(needed) bytes its layout needs"
        case .configOutOfRange(let o, let s): "config access at offset \(o) size \(s) exceeds 256 bytes"
        }
    }
}
