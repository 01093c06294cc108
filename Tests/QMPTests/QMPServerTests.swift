import Testing
@testable import QMP
#if canImport(Glibc)
import Glibc
#endif

/// A QMP server on a real UNIX socket, driven as a client would (the `qemu.qmp` library and
/// libxl speak exactly this).
struct QMPServerTests {
    /// A blocking line-oriented client.
    final class Client {
        let fd: Int32
        private var pending: [UInt8] = []

        init(path: String) throws {
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (i, b) in path.utf8.enumerated() { raw[i] = b }
            }
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            try #require(rc == 0, "connect \(path): errno \(errno)")
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        deinit { close(fd) }

        func send(_ text: String) {
            let bytes = Array(text.utf8)
            _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
        }

        /// The next message (one line), parsed.
        func receive() throws -> JSONValue {
            while true {
                if let nl = pending.firstIndex(of: 0x0A) {
                    let line = Array(pending[..<nl])
                    pending.removeFirst(nl + 1)
                    return try JSONParser.parse(line)
                }
                var buffer = [UInt8](repeating: 0, count: 4096)
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                try #require(n > 0, "connection closed or timed out (errno \(errno))")
                pending += buffer[0..<n]
            }
        }

        func execute(_ text: String) throws -> JSONValue {
            send(text)
            return try receive()
        }
    }

    static func path(_ name: String) -> String { "/tmp/sdm-qmp-\(name)-\(getpid()).sock" }

    func server() throws -> QMPServer {
        try QMPServer(identity: .init(major: 7, minor: 2, micro: 0, package: "swiftdm test"))
    }

    @Test func greetingNegotiationAndIDs() throws {
        let qmp = try server()
        defer { qmp.close() }
        qmp.register("query-status") { _ in ["status": "running", "singlestep": false, "running": true] }
        let path = Self.path("basic")
        try qmp.listen(unixPath: path)
        let c = try Client(path: path)
        let greeting = try c.receive()
        #expect(greeting.description == #"{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "swiftdm test"}, "capabilities": []}}"#)
        // Commands before negotiation are refused, as QEMU does.
        let early = try c.execute(#"{"execute": "query-status", "id": "e"}"#)
        #expect(early["error"]?["class"]?.stringValue == "CommandNotFound")
        #expect(early["id"] == "e")
        #expect(try c.execute(#"{"execute": "qmp_capabilities", "id": {"n": 1}}"#).description == #"{"return": {}, "id": {"n": 1}}"#)
        #expect(try c.execute(#"{"execute": "query-status", "id": 7}"#).description
                == #"{"return": {"status": "running", "singlestep": false, "running": true}, "id": 7}"#)
        let unknown = try c.execute(#"{"execute": "no-such-thing"}"#)
        #expect(unknown.description == #"{"error": {"class": "CommandNotFound", "desc": "The command no-such-thing has not been found"}}"#)
        let names = try c.execute(#"{"execute": "query-commands"}"#)["return"]
        #expect(names == [["name": "qmp_capabilities"], ["name": "query-version"], ["name": "add-fd"], ["name": "remove-fd"],
                          ["name": "query-fdsets"], ["name": "query-commands"], ["name": "query-status"]])
        #expect(try c.execute(#"{"execute": "query-version"}"#)["return"]?["qemu"]?["major"] == 7)
    }

    @Test func badInputGetsErrorsAndTheConnectionLives() throws {
        let qmp = try server()
        defer { qmp.close() }
        let path = Self.path("bad")
        try qmp.listen(unixPath: path)
        let c = try Client(path: path)
        _ = try c.receive()
        _ = try c.execute(#"{"execute": "qmp_capabilities"}"#)
        #expect(try c.execute(#"{"execute": }"#)["error"]?["class"] == "GenericError")
        #expect(try c.execute(#"["execute"]"#)["error"]?["desc"] == "QMP input must be a JSON object")
        #expect(try c.execute(#"{"id": 3}"#).description == #"{"error": {"class": "GenericError", "desc": "QMP input lacks member 'execute'"}, "id": 3}"#)
        #expect(try c.execute(#"{"execute": "query-version", "arguments": 5}"#)["error"] != nil)
        let nested = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(try c.execute(nested)["error"] != nil)
        #expect(try c.execute(#"{"execute": "query-version", "id": "still"}"#)["id"] == "still")
    }

    @Test func handlerErrorsCarryClassAndDescription() throws {
        let qmp = try server()
        defer { qmp.close() }
        qmp.register("block_resize") { args throws(QMPError) in
            guard args["size"]?.integerValue != nil else { throw .badArgument("size", expected: "an integer") }
            throw QMPError(.deviceNotFound, "Cannot find device='\(args["device"]?.stringValue ?? "")'")
        }
        let path = Self.path("errors")
        try qmp.listen(unixPath: path)
        let c = try Client(path: path)
        _ = try c.receive()
        _ = try c.execute(#"{"execute": "qmp_capabilities"}"#)
        #expect(try c.execute(#"{"execute": "block_resize", "arguments": {"device": "x"}}"#).description
                == #"{"error": {"class": "GenericError", "desc": "Parameter 'size' expects an integer"}}"#)
        #expect(try c.execute(#"{"execute": "block_resize", "arguments": {"device": "x", "size": 1}, "id": 1}"#).description
                == #"{"error": {"class": "DeviceNotFound", "desc": "Cannot find device='x'"}, "id": 1}"#)
    }

    @Test func eventsReachEveryNegotiatedClientWithATimestamp() throws {
        let qmp = try server()
        defer { qmp.close() }
        let path = Self.path("events")
        try qmp.listen(unixPath: path)
        let a = try Client(path: path)
        let b = try Client(path: path)
        let silent = try Client(path: path)
        for c in [a, b, silent] { _ = try c.receive() }
        for c in [a, b] { _ = try c.execute(#"{"execute": "qmp_capabilities"}"#) }
        qmp.emit("SHUTDOWN", data: ["guest": true, "reason": "guest-shutdown"])
        for c in [a, b] {
            let event = try c.receive()
            #expect(event["event"] == "SHUTDOWN")
            #expect(event["data"] == ["guest": true, "reason": "guest-shutdown"])
            #expect((event["timestamp"]?["seconds"]?.integerValue ?? 0) > 1_700_000_000)
            #expect(event["timestamp"]?["microseconds"]?.integerValue != nil)
        }
        // The unnegotiated client got nothing: its next message is the reply to its negotiation.
        #expect(try silent.execute(#"{"execute": "qmp_capabilities", "id": 1}"#).description == #"{"return": {}, "id": 1}"#)
    }

    /// What `swiftdm qmp --wait-event` relies on: an event sent while a command runs is kept,
    /// later ones are waited for, and a server that goes away ends the wait.
    @Test func ourClientKeepsEventsAndWaitsForMore() throws {
        let qmp = try server()
        qmp.register("system_powerdown") { [qmp] _ in
            qmp.emit("POWERDOWN")
            return [:]
        }
        let path = Self.path("client-events")
        try qmp.listen(unixPath: path)
        let client = try QMPClient(path: path, timeout: .seconds(10))
        #expect(try client.execute("system_powerdown") == [:])
        #expect(try client.nextEvent()["event"] == "POWERDOWN")
        qmp.emit("SHUTDOWN", data: ["guest": true, "reason": "guest-shutdown"])
        let shutdown = try client.nextEvent()
        #expect(shutdown["event"] == "SHUTDOWN")
        #expect(shutdown["data"] == ["guest": true, "reason": "guest-shutdown"])
        qmp.close()
        #expect(throws: QMPClient.Failure.closed(path: path)) { try client.nextEvent() }
    }

    @Test func closeRemovesTheSocket() throws {
        let qmp = try server()
        let path = Self.path("close")
        try qmp.listen(unixPath: path)
        #expect(access(path, F_OK) == 0)
        qmp.close()
        #expect(access(path, F_OK) != 0)
        qmp.close()
    }

    @Test func aPathTooLongIsAClearError() throws {
        let qmp = try server()
        defer { qmp.close() }
        let long = "/tmp/" + String(repeating: "q", count: 200)
        #expect(throws: QMPServerError.socketPathTooLong(long)) { try qmp.listen(unixPath: long) }
    }
}
