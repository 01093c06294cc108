import VhostUser

/// Why the vhost-user block frontend, its load generator or `swiftdm bench` stopped. Each case
/// names the value that was wrong: the backend is another program, and its misbehaviour is
/// reported, never trapped on.
public enum StorageBenchError: Error, Equatable, CustomStringConvertible {
    /// A system call failed.
    case system(call: String, errno: Int32)
    /// The socket path does not fit `sockaddr_un`.
    case socketPathTooLong(String, maximum: Int)
    /// Nothing accepted a connection on the socket within the time allowed.
    case connectFailed(path: String, errno: Int32)
    /// Sending or receiving a vhost-user message failed.
    case channel(VhostUserError)
    /// The backend closed the connection while a reply was awaited.
    case backendClosed(awaiting: String)
    /// A reply for another request, or without the reply flag, arrived.
    case unexpectedReply(awaiting: String, request: UInt32, flags: UInt32)
    /// A reply's payload has the wrong size.
    case badReplySize(request: String, size: Int, expected: Int)
    /// `REPLY_ACK` reported a failure (non-zero status).
    case nacked(request: String, status: UInt64)
    /// The backend lacks a feature the frontend cannot work without.
    case featureMissing(String, offered: UInt64)
    /// The device's configuration is unusable (zero capacity, odd block size).
    case badDeviceConfig(String)
    /// A frontend setting is out of range (queue depth, block size, ring size).
    case badParameter(String)
    /// A request completed with a status other than `VIRTIO_BLK_S_OK`.
    case requestFailed(queue: Int, sector: UInt64, status: UInt8)
    /// The used ring returned an id that is no request in flight (a duplicate or invented completion).
    case unexpectedUsedID(queue: Int, id: UInt32)
    /// No completion arrived for this long with requests in flight.
    case stalled(queue: Int, inflight: Int, seconds: Int)
    /// Read-back data differs from what was written.
    case dataMismatch(sector: UInt64, byteOffset: Int)
    /// A backend process (swiftdm or qemu-storage-daemon) did not come up.
    case backendDidNotStart(command: String, output: String)
    /// A host tool exited badly or printed something unparseable.
    case toolFailed(command: String, detail: String)
    /// A real-Linux guest (or a tool in it) reported no result: what ran, and how the guest ended.
    case guestRunFailed(guest: String, detail: String)

    /// The message, with the offending value.
    public var description: String {
        switch self {
        case .system(let call, let e): "\(call) failed: errno \(e)"
        case .socketPathTooLong(let p, let max): "socket path \(p) is longer than \(max) bytes"
        case .connectFailed(let p, let e): "could not connect to \(p) (errno \(e))"
        case .channel(let e): "vhost-user: \(e)"
        case .backendClosed(let r): "the backend closed the connection awaiting the reply to \(r)"
        case .unexpectedReply(let r, let got, let flags):
            "awaiting the reply to \(r), got \(VhostUserRequest.name(of: got)) with flags 0x\(String(flags, radix: 16))"
        case .badReplySize(let r, let size, let expected): "\(r) reply is \(size) bytes, expected \(expected)"
        case .nacked(let r, let status): "the backend refused \(r) (REPLY_ACK status \(status))"
        case .featureMissing(let f, let offered): "the backend does not offer \(f) (features 0x\(String(offered, radix: 16)))"
        case .badDeviceConfig(let why): "unusable virtio-blk configuration: \(why)"
        case .badParameter(let why): why
        case .requestFailed(let q, let sector, let status): "queue \(q): request at sector \(sector) completed with status \(status)"
        case .unexpectedUsedID(let q, let id): "queue \(q): used ring returned id \(id), which is not in flight"
        case .stalled(let q, let n, let s): "queue \(q): no completion for \(s) s with \(n) requests in flight"
        case .dataMismatch(let sector, let offset): "read-back data differs at sector \(sector), byte \(offset)"
        case .backendDidNotStart(let c, let out): "\(c) did not start: \(out)"
        case .toolFailed(let c, let detail): "\(c): \(detail)"
        case .guestRunFailed(let guest, let detail): "\(guest): \(detail)"
        }
    }
}
