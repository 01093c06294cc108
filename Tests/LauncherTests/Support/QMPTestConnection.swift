import Foundation
import QMP

/// A test's QMP connection that keeps the events it receives (``QMP/QMPClient`` skips them):
/// negotiates, then ``execute(_:_:)`` returns the whole reply and ``event(_:timeout:)`` waits
/// for one event by name.
final class QMPTestConnection {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let fd: Int32
    private var buffer: [UInt8] = []
    private(set) var events: [JSONValue] = []

    /// Connects to `path`, retrying until the socket exists (for `timeout` seconds).
    init(path: String, timeout: Double = 30) throws {
        let deadline = Date().addingTimeInterval(timeout)
        var fd: Int32 = -1
        while true {
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (i, b) in path.utf8.enumerated() { raw[i] = b }
            }
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            if rc == 0 { break }
            close(fd)
            guard Date() < deadline else { throw Failure(description: "cannot connect to \(path)") }
            usleep(50_000)
        }
        self.fd = fd
        var t = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &t, socklen_t(MemoryLayout<timeval>.size))
        let greeting = try message(timeout: 10)
        guard greeting["QMP"] != nil else { throw Failure(description: "no greeting: \(greeting)") }
        _ = try execute("qmp_capabilities")
    }

    deinit { close(fd) }

    /// The next message, or a failure after `timeout` seconds.
    func message(timeout: Double = 30) throws -> JSONValue {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let newline = buffer.firstIndex(of: 10) {
                let line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                if line.allSatisfy({ $0 == 13 || $0 == 32 }) { continue }
                return try JSONParser.parse(line)
            }
            guard Date() < deadline else { throw Failure(description: "no QMP message within \(timeout) s") }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { buffer += chunk[..<n] } else if n == 0 { throw Failure(description: "connection closed") }
        }
    }

    /// Sends `command` and returns its reply (`return` or `error` object), keeping events.
    @discardableResult
    func execute(_ command: String, _ arguments: JSONValue? = nil, timeout: Double = 60) throws -> JSONValue {
        var request: [(key: String, value: JSONValue)] = [("execute", .string(command))]
        if let arguments { request.append(("arguments", arguments)) }
        let bytes = Array((JSONValue.object(request).description + "\n").utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        while true {
            let m = try message(timeout: timeout)
            if m["event"] != nil { events.append(m); continue }
            return m
        }
    }

    /// `execute`'s `return` value, or a failure with the error.
    func run(_ command: String, _ arguments: JSONValue? = nil) throws -> JSONValue {
        let reply = try execute(command, arguments)
        guard let value = reply["return"] else { throw Failure(description: "\(command): \(reply)") }
        return value
    }

    /// The first event called `name` (received already or within `timeout` seconds); it is
    /// removed from ``events``.
    func event(_ name: String, timeout: Double = 60) throws -> JSONValue {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let i = events.firstIndex(where: { $0["event"]?.stringValue == name }) { return events.remove(at: i) }
            guard Date() < deadline else { throw Failure(description: "no \(name) event within \(timeout) s; got \(events)") }
            let m = try message(timeout: max(0.1, deadline.timeIntervalSinceNow))
            if m["event"] != nil { events.append(m) }
        }
    }
}
