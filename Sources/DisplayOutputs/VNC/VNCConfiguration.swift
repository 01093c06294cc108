/// How a ``VNCServer`` listens and whom it lets in.
public struct VNCConfiguration: Sendable, Equatable {
    /// Where clients connect.
    public enum Listen: Sendable, Equatable, CustomStringConvertible {
        /// A UNIX stream socket at this path (created, and removed on stop).
        case unix(String)
        /// TCP on `host`, port 5900 + `display` (the X display numbering VNC viewers use).
        case tcp(host: String, display: Int)

        public var description: String {
            switch self {
            case .unix(let path): "unix:\(path)"
            case .tcp(let host, let display): "\(host.contains(":") ? "[\(host)]" : host):\(5900 + display)"
            }
        }
    }

    /// The host a TCP address without one binds to: local connections only.
    public static let defaultHost = "127.0.0.1"
    /// The highest display number (port 65535).
    public static let maximumDisplay = 65535 - 5900

    /// Where clients connect.
    public var listen: Listen
    /// With a password clients must pass VNC Authentication (RFC 6143 §7.2.2); without one
    /// they connect with security type None. Only the first 8 bytes count, as in every VNC server.
    public var password: String?

    /// Listening on `listen` (local TCP display 0 by default), with or without a password.
    public init(listen: Listen = .tcp(host: defaultHost, display: 0), password: String? = nil) {
        self.listen = listen
        self.password = password
    }

    /// Parses the launcher's spelling: `unix=PATH`, `HOST:DISPLAY`, `:DISPLAY` (local host),
    /// `[IPV6]:DISPLAY`.
    public init(parsing text: String, password: String? = nil) throws(VNCError) {
        self.password = password
        if text.hasPrefix("unix=") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { throw .invalidListenAddress(text, reason: "empty socket path") }
            listen = .unix(path)
            return
        }
        var host: Substring
        var rest: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw .invalidListenAddress(text, reason: "'[' without ']'")
            }
            host = text[text.index(after: text.startIndex)..<close]
            rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw .invalidListenAddress(text, reason: "expected ':DISPLAY' after ']'") }
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw .invalidListenAddress(text, reason: "expected unix=PATH, HOST:DISPLAY or :DISPLAY")
            }
            host = text[..<colon]
            rest = text[colon...]
            guard !host.contains(":") else {
                throw .invalidListenAddress(text, reason: "an IPv6 host goes in brackets: [HOST]:DISPLAY")
            }
        }
        rest = rest.dropFirst()
        guard !rest.isEmpty, rest.allSatisfy({ $0.isASCII && $0.isNumber }), rest.count <= 5, let display = Int(rest),
              display <= Self.maximumDisplay else {
            throw .invalidListenAddress(text, reason: "display '\(rest)' is not a number in 0...\(Self.maximumDisplay)")
        }
        if host.isEmpty { host = Substring(Self.defaultHost) }
        listen = .tcp(host: String(host), display: display)
    }
}
