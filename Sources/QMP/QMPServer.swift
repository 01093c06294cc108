import DeviceModel
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A QMP server (QEMU Machine Protocol, `docs/interop/qmp-spec.rst`) on UNIX sockets: the
/// control plane toolstacks speak to a device model (libxl, libvirt, `qemu.qmp`).
///
/// Each client gets the greeting, must negotiate with `qmp_capabilities`, then sends
/// commands `{"execute": NAME, "arguments": {…}, "id": ANY}`; every reply echoes the `id`.
/// Errors are `{"error": {"class": …, "desc": …}}`. Events go to every negotiated client
/// with a timestamp. Several clients and several listening sockets are served at once.
///
/// Commands are registered by the machine that embeds the server (``register(_:_:)``);
/// `qmp_capabilities`, `query-commands` and `query-version` are built in. Handlers run on
/// the server's own thread, one at a time.
public final class QMPServer: @unchecked Sendable {
    // SAFETY (@unchecked): `clients`, `listeners` and `commands` are touched only on `loop`'s
    // thread, except that `register` may be called before ``listen(unixPath:)``; `closed`
    // is a Mutex.

    /// What the greeting says the server is.
    public struct Identity: Sendable {
        public var major: Int64
        public var minor: Int64
        public var micro: Int64
        public var package: String

        /// Which QEMU's protocol the server speaks: toolstacks choose commands by this version.
        public init(major: Int64, minor: Int64, micro: Int64, package: String) {
            self.major = major
            self.minor = minor
            self.micro = micro
            self.package = package
        }
    }

    /// A command's handler: receives `arguments` (an empty object when absent) and returns
    /// the `return` value.
    public typealias Handler = @Sendable (_ arguments: JSONValue) throws(QMPError) -> JSONValue

    /// One connection; touched only on the loop's thread.
    private final class Client: @unchecked Sendable {
        let fd: Int32
        var splitter = QMPMessageSplitter()
        var negotiated = false
        /// Descriptors received with the client's messages (SCM_RIGHTS), oldest first, until
        /// `add-fd` takes them.
        var receivedFDs: [Int32] = []
        var source: EventSource?
        init(fd: Int32) { self.fd = fd }
    }

    public let identity: Identity
    private let loop: EventLoop
    private let logger: Logger
    private var commands: [String: Handler] = [:]
    private var commandOrder: [String] = []
    private var clients: [Int32: Client] = [:]
    private var listeners: [(fd: Int32, path: String, source: EventSource)] = []
    /// QEMU's fd sets (`add-fd`): descriptors clients passed, by set id; used as
    /// `/dev/fdset/N` wherever a command takes a file name.
    private var fdsets: [Int64: [(fd: Int32, opaque: String?)]] = [:]
    private let closed = Mutex(false)

    /// A server with its own thread; it listens nowhere until ``listen(unixPath:)``.
    public init(identity: Identity, logger: Logger = Logger(label: "swiftdm.qmp")) throws(QMPServerError) {
        self.identity = identity
        self.logger = logger
        do {
            loop = try EventLoop(name: "qmp")
        } catch {
            throw .eventLoop("\(error)")
        }
        builtIns()
    }

    deinit { close() }

    private func builtIns() {
        register("qmp_capabilities") { _ in [:] }
        register("query-version") { [identity] _ in
            ["qemu": ["micro": .integer(identity.micro), "minor": .integer(identity.minor), "major": .integer(identity.major)],
             "package": .string(identity.package)]
        }
        for name in ["add-fd", "remove-fd", "query-fdsets"] where commands[name] == nil {
            // Served by the server itself (they need the client's passed descriptors); listed here.
            commandOrder.append(name)
        }
        register("query-commands") { [weak self] _ in
            .array((self?.commandOrder ?? []).map { ["name": .string($0)] })
        }
    }

    /// Adds (or replaces) command `name`. Call before clients connect, or from a handler.
    public func register(_ name: String, _ handler: @escaping Handler) {
        if loop.isCurrent {
            add(name, handler)
        } else {
            loop.sync { [self] in add(name, handler) }
        }
    }

    private func add(_ name: String, _ handler: @escaping Handler) {
        if commands[name] == nil { commandOrder.append(name) }
        commands[name] = handler
    }

    /// Listens on the UNIX socket `path` (an old socket file there is replaced), as QEMU's
    /// `-chardev socket,path=…,server=on,wait=off` with `-mon mode=control` does.
    public func listen(unixPath path: String) throws(QMPServerError) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw .socketPathTooLong(path) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .socketFailed(path: path, function: "socket", errno: errno) }
        unlink(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 8) == 0 else {
            let e = errno
            Glibc.close(fd)
            throw .socketFailed(path: path, function: bound == 0 ? "listen" : "bind", errno: e)
        }
        loop.sync { [self] in
            let source = loop.watch(fd: fd, for: .readable) { [weak self] _ in self?.accept(listener: fd) }
            listeners.append((fd, path, source))
        }
        logger.info("QMP listening on \(path)")
    }

    /// Sends event `name` to every negotiated client.
    public func emit(_ name: String, data: JSONValue? = nil) {
        var now = timeval()
        gettimeofday(&now, nil)
        var members: [(key: String, value: JSONValue)] = [("event", .string(name))]
        if let data { members.append(("data", data)) }
        members.append(("timestamp", ["seconds": .integer(Int64(now.tv_sec)), "microseconds": .integer(Int64(now.tv_usec))]))
        let message = JSONValue.object(members)
        loop.execute { [weak self] in
            guard let self else { return }
            for client in clients.values where client.negotiated { send(message, to: client) }
        }
    }

    /// Closes every connection and socket (their files are removed) and stops the thread.
    /// Idempotent.
    public func close() {
        let wasClosed = closed.withLock { c in
            let was = c
            c = true
            return was
        }
        if wasClosed { return }
        loop.sync { [self] in
            for client in clients.values { drop(client) }
            for set in fdsets.values { for m in set { Glibc.close(m.fd) } }
            fdsets.removeAll()
            for l in listeners {
                l.source.cancel()
                Glibc.close(l.fd)
                unlink(l.path)
            }
            listeners.removeAll()
        }
        loop.shutdown()
    }

    // MARK: fd sets

    /// A duplicate of the first descriptor of fd set N when `path` is `/dev/fdset/N` (QEMU's
    /// spelling, as libxl passes a save file), or `nil` for other paths or an unknown set.
    /// The caller closes it. Call from a command handler (the server's thread) or any thread.
    public func descriptor(forPath path: String) -> Int32? {
        guard path.hasPrefix("/dev/fdset/"), let set = Int64(path.dropFirst("/dev/fdset/".count)) else { return nil }
        let lookup: @Sendable () -> Int32? = { [weak self] in
            guard let self, let fd = self.fdsets[set]?.first?.fd else { return nil }
            let copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)
            return copy >= 0 ? copy : nil
        }
        return loop.isCurrent ? lookup() : loop.sync(lookup)
    }

    /// `add-fd`, `remove-fd` and `query-fdsets` (qapi/misc.json).
    private func fdsetCommand(_ name: String, _ args: JSONValue, id: JSONValue?, from client: Client) -> JSONValue {
        func reply(_ value: JSONValue) -> JSONValue {
            var members: [(key: String, value: JSONValue)] = [("return", value)]
            if let id { members.append(("id", id)) }
            return .object(members)
        }
        switch name {
        case "add-fd":
            guard !client.receivedFDs.isEmpty else {
                return errorReply(QMPError(.genericError, "No file descriptor supplied via SCM_RIGHTS"), id: id)
            }
            let set: Int64
            if let wanted = args["fdset-id"] {
                guard let n = wanted.integerValue, n >= 0 else { return errorReply(.badArgument("fdset-id", expected: "a non-negative integer"), id: id) }
                set = n
            } else {
                set = (fdsets.keys.max() ?? -1) + 1
            }
            let fd = client.receivedFDs.removeFirst()
            fdsets[set, default: []].append((fd, args["opaque"]?.stringValue))
            return reply(["fdset-id": .integer(set), "fd": .integer(Int64(fd))])
        case "remove-fd":
            guard let set = args["fdset-id"]?.integerValue, let members = fdsets[set] else {
                return errorReply(QMPError(.genericError, "File descriptor named 'fdset-id:\(args["fdset-id"]?.description ?? "")' not found"), id: id)
            }
            let only = args["fd"]?.integerValue
            var kept: [(fd: Int32, opaque: String?)] = []
            for m in members {
                if only == nil || Int64(m.fd) == only { Glibc.close(m.fd) } else { kept.append(m) }
            }
            fdsets[set] = kept.isEmpty ? nil : kept
            return reply([:])
        default:
            return reply(.array(fdsets.keys.sorted().map { set in
                ["fdset-id": .integer(set), "fds": .array((fdsets[set] ?? []).map { m in
                    var o: [(key: String, value: JSONValue)] = [("fd", .integer(Int64(m.fd)))]
                    if let opaque = m.opaque { o.append(("opaque", .string(opaque))) }
                    return .object(o)
                })]
            }))
        }
    }

    // MARK: Loop thread

    private func accept(listener: Int32) {
        let fd = Glibc.accept(listener, nil, nil)
        guard fd >= 0 else { return }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        // A client that stops reading must not stall the server for long.
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let client = Client(fd: fd)
        clients[fd] = client
        client.source = loop.watch(fd: fd, for: [.readable, .hangup, .error]) { [weak self] _ in self?.read(client) }
        let greeting: JSONValue = ["QMP": [
            "version": ["qemu": ["micro": .integer(identity.micro), "minor": .integer(identity.minor), "major": .integer(identity.major)],
                        "package": .string(identity.package)],
            "capabilities": [],
        ]]
        send(greeting, to: client)
    }

    /// Room for a few descriptors passed along with a message (QMP's `add-fd`, as libxl
    /// sends a save file's descriptor): CMSG_SPACE(8 × 4) on LP64.
    private static let maxPassedFDs = 8
    private static let controlSize = cmsgAlign(MemoryLayout<cmsghdr>.size) + cmsgAlign(maxPassedFDs * 4)
    private static func cmsgAlign(_ n: Int) -> Int { (n + MemoryLayout<Int>.size - 1) & ~(MemoryLayout<Int>.size - 1) }

    private func read(_ client: Client) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let control = UnsafeMutableRawPointer.allocate(byteCount: Self.controlSize, alignment: MemoryLayout<Int>.alignment)
        defer { control.deallocate() }
        control.initializeMemory(as: UInt8.self, repeating: 0, count: Self.controlSize)
        var controlLength = 0
        let n: Int = buffer.withUnsafeMutableBytes { data in
            var iov = iovec(iov_base: data.baseAddress, iov_len: data.count)
            return withUnsafeMutablePointer(to: &iov) { iovp in
                var msg = msghdr()
                msg.msg_iov = iovp
                msg.msg_iovlen = 1
                msg.msg_control = control
                msg.msg_controllen = Self.controlSize
                let got = Glibc.recvmsg(client.fd, &msg, Int32(MSG_DONTWAIT) | Int32(MSG_CMSG_CLOEXEC))
                controlLength = msg.msg_controllen
                return got
            }
        }
        if n < 0 && (errno == EAGAIN || errno == EINTR) { return }
        if n > 0 { client.receivedFDs += Self.passedDescriptors(control: control, length: min(controlLength, Self.controlSize)) }
        guard n > 0 else {
            drop(client)
            return
        }
        for piece in client.splitter.feed(buffer[0..<n]) {
            guard clients[client.fd] === client else { return }
            switch piece {
            case .tooLong:
                send(errorReply(QMPError(.genericError, "JSON message longer than \(QMPMessageSplitter.maximumMessageBytes) bytes"), id: nil), to: client)
            case .message(let bytes):
                handle(bytes, from: client)
            }
        }
    }

    // SAFETY: `control` holds `length` bytes the kernel wrote as cmsghdr records; each
    // record's declared length is checked against the buffer before its data is read, with
    // unaligned loads.
    private static func passedDescriptors(control: UnsafeMutableRawPointer, length: Int) -> [Int32] {
        var fds: [Int32] = []
        var offset = 0
        let header = MemoryLayout<cmsghdr>.size
        while offset + header <= length {
            let cmsg = control.advanced(by: offset).loadUnaligned(as: cmsghdr.self)
            let recordLength = Int(cmsg.cmsg_len)
            guard recordLength >= header, offset + recordLength <= length else { break }
            if cmsg.cmsg_level == SOL_SOCKET && cmsg.cmsg_type == Int32(SCM_RIGHTS) {
                let start = offset + cmsgAlign(header)
                for i in 0..<max(0, (offset + recordLength - start) / 4) {
                    let fd = control.advanced(by: start + 4 * i).loadUnaligned(as: Int32.self)
                    if fd >= 0 { fds.append(fd) }
                }
            }
            offset += cmsgAlign(recordLength)
        }
        return fds
    }

    private func errorReply(_ error: QMPError, id: JSONValue?) -> JSONValue {
        var members: [(key: String, value: JSONValue)] = [("error", ["class": .string(error.errorClass.rawValue), "desc": .string(error.desc)])]
        if let id { members.append(("id", id)) }
        return .object(members)
    }

    private func handle(_ bytes: [UInt8], from client: Client) {
        let request: JSONValue
        do {
            request = try JSONParser.parse(bytes)
        } catch {
            send(errorReply(QMPError(.genericError, "JSON parse error, \(error)"), id: nil), to: client)
            return
        }
        guard case .object = request else {
            send(errorReply(QMPError(.genericError, "QMP input must be a JSON object"), id: nil), to: client)
            return
        }
        let id = request["id"]
        guard let name = request["execute"]?.stringValue else {
            send(errorReply(QMPError(.genericError, "QMP input lacks member 'execute'"), id: id), to: client)
            return
        }
        let arguments = request["arguments"] ?? [:]
        guard case .object = arguments else {
            send(errorReply(QMPError(.genericError, "QMP input member 'arguments' must be an object"), id: id), to: client)
            return
        }
        if !client.negotiated && name != "qmp_capabilities" {
            send(errorReply(QMPError(.commandNotFound, "Expecting capabilities negotiation with 'qmp_capabilities'"), id: id), to: client)
            return
        }
        if client.negotiated && name == "qmp_capabilities" {
            send(errorReply(QMPError(.commandNotFound, "Capabilities negotiation is already complete, command ignored"), id: id), to: client)
            return
        }
        if name == "add-fd" || name == "remove-fd" || name == "query-fdsets" {
            send(fdsetCommand(name, arguments, id: id, from: client), to: client)
            return
        }
        guard let handler = commands[name] else {
            send(errorReply(QMPError(.commandNotFound, "The command \(name) has not been found"), id: id), to: client)
            return
        }
        let reply: JSONValue
        do {
            let value = try handler(arguments)
            var members: [(key: String, value: JSONValue)] = [("return", value)]
            if let id { members.append(("id", id)) }
            reply = .object(members)
            if name == "qmp_capabilities" { client.negotiated = true }
        } catch {
            reply = errorReply(error, id: id)
        }
        logger.debug("QMP \(name) → \(reply)")
        send(reply, to: client)
    }

    private func send(_ message: JSONValue, to client: Client) {
        let bytes = Array((message.description + "\r\n").utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(client.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                drop(client)
                return
            }
            sent += n
        }
    }

    private func drop(_ client: Client) {
        guard clients[client.fd] === client else { return }
        for fd in client.receivedFDs { Glibc.close(fd) }
        client.receivedFDs.removeAll()
        client.source?.cancel()
        clients.removeValue(forKey: client.fd)
        Glibc.close(client.fd)
    }
}
