#if canImport(Glibc)
import Glibc
#endif

/// A blocking QMP client for one short conversation with another device model — say, asking
/// the domain's qemu-xen which PCI slots it occupies before serving beside it.
///
/// Connects, reads the greeting, negotiates, then ``execute(_:arguments:)`` sends commands and
/// returns their `return` values; events that arrive meanwhile are kept for ``nextEvent()``.
/// Every wait is bounded by `timeout`: a QEMU monitor serves one client at a time, so a busy
/// one must not block the caller forever.
public final class QMPClient {
    /// Why a conversation failed.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case connect(path: String, errno: Int32)
        case timedOut(path: String, waitingFor: String)
        case closed(path: String)
        case badMessage(path: String, reason: String)
        case commandFailed(command: String, error: QMPError)

        public var description: String {
            switch self {
            case .connect(let p, let e): "QMP \(p): connect failed: \(String(cString: strerror(e)))"
            case .timedOut(let p, let w): "QMP \(p): no \(w) in time (the monitor may be busy with another client)"
            case .closed(let p): "QMP \(p): the server closed the connection"
            case .badMessage(let p, let r): "QMP \(p): \(r)"
            case .commandFailed(let c, let e): "QMP \(c): \(e)"
            }
        }
    }

    public let path: String
    /// The server's greeting.
    public private(set) var greeting: JSONValue = .null
    private let fd: Int32
    private var splitter = QMPMessageSplitter()
    /// Messages received but not yet read.
    private var ready: [QMPMessageSplitter.Piece] = []
    /// Events received while waiting for a reply, oldest first.
    private var events: [JSONValue] = []
    private var nextID: Int64 = 1

    /// Connects to the UNIX socket `path` and negotiates capabilities.
    public init(path: String, timeout: Duration = .seconds(5)) throws(Failure) {
        self.path = path
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw .connect(path: path, errno: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .connect(path: path, errno: errno) }
        let seconds = timeout.components.seconds
        var tv = timeval(tv_sec: Int(max(seconds, 1)), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let e = errno
            close(fd)
            throw .connect(path: path, errno: e)
        }
        do throws(Failure) {
            greeting = try receive(waitingFor: "greeting")
            guard greeting["QMP"] != nil else { throw .badMessage(path: path, reason: "the first message is not a QMP greeting: \(greeting)") }
            _ = try execute("qmp_capabilities")
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(fd) }

    /// Runs `command` and returns its `return` value.
    public func execute(_ command: String, arguments: JSONValue? = nil) throws(Failure) -> JSONValue {
        let id = nextID
        nextID += 1
        var members: [(key: String, value: JSONValue)] = [("execute", .string(command))]
        if let arguments { members.append(("arguments", arguments)) }
        members.append(("id", .integer(id)))
        let bytes = Array((JSONValue.object(members).description + "\n").utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw .closed(path: path) }
            sent += n
        }
        while true {
            let reply = try receive(waitingFor: "reply to \(command)")
            if reply["event"] != nil {
                events.append(reply)
                continue
            }
            guard reply["id"] == .integer(id) else { continue }  // replies to others
            if let error = reply["error"] {
                let cls = QMPError.Class(rawValue: error["class"]?.stringValue ?? "") ?? .genericError
                throw .commandFailed(command: command, error: QMPError(cls, error["desc"]?.stringValue ?? "\(error)"))
            }
            return reply["return"] ?? .null
        }
    }

    /// The next event (`{"event": NAME, "data": …, "timestamp": …}`): one kept while a command
    /// ran, or the next to arrive, waiting up to the client's timeout for it.
    ///
    /// - Throws: ``Failure/timedOut(path:waitingFor:)`` when none came in time;
    ///   ``Failure/closed(path:)`` when the server closed the connection (a machine that ended
    ///   closes it after its `SHUTDOWN`).
    public func nextEvent() throws(Failure) -> JSONValue {
        if !events.isEmpty { return events.removeFirst() }
        while true {
            let message = try receive(waitingFor: "event")
            if message["event"] != nil { return message }
        }
    }

    private func receive(waitingFor what: String) throws(Failure) -> JSONValue {
        while ready.isEmpty {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { throw .timedOut(path: path, waitingFor: what) }
            guard n > 0 else { throw .closed(path: path) }
            ready = splitter.feed(buffer[0..<n])
        }
        guard case .message(let bytes) = ready.removeFirst() else { throw .badMessage(path: path, reason: "message too long") }
        do {
            return try JSONParser.parse(bytes)
        } catch {
            throw .badMessage(path: path, reason: "\(error)")
        }
    }
}
