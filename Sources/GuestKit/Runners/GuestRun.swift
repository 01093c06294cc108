/// What a guest-kit guest printed, parsed from its console: the ``GuestInit`` markers and the
/// `key=value` lines its command reported.
public struct GuestRun: Sendable {
    /// The whole console output (carriage returns removed).
    public let console: String
    /// Guest uptime when `/init` was ready (modules loaded), in seconds.
    public let readyUptime: Double?
    /// The command's exit status, if the guest got that far.
    public let exitStatus: Int32?
    /// Guest uptime when the command finished.
    public let exitUptime: Double?
    /// Host wall time from launch to exit, in seconds.
    public let wallSeconds: Double
    /// The exit status of the host process that ran the guest (QEMU, `linux.uml`, `swiftdm run`);
    /// `nil` when it had to be killed (timeout) or a signal ended it.
    public let hostStatus: Int32?

    /// Parses `console`.
    public init(console: String, wallSeconds: Double, hostStatus: Int32? = nil) {
        // Serial consoles end lines with "\r\n", a single Character in Swift: drop the "\r"s
        // so line handling sees plain "\n".
        let console = String(String.UnicodeScalarView(console.unicodeScalars.filter { $0 != "\r" }))
        self.console = console
        self.wallSeconds = wallSeconds
        self.hostStatus = hostStatus
        readyUptime = Self.value(after: "\(GuestInit.readyMarker) uptime=", in: console).flatMap(Double.init)
        exitStatus = Self.value(after: "\(GuestInit.exitMarker) status=", in: console).flatMap { Int32($0) }
        exitUptime = Self.value(after: "\(GuestInit.exitMarker) status=", in: console).flatMap { _ in
            Self.lastLine(containing: GuestInit.exitMarker, in: console).flatMap { Self.value(after: "uptime=", in: $0) }.flatMap(Double.init)
        }
    }

    /// The command's output: the console lines between the ready and exit markers.
    public var commandOutput: String {
        guard let start = console.range(of: GuestInit.readyMarker) else { return "" }
        let rest = console[start.upperBound...]
        let afterReady = rest.firstIndex(of: "\n").map { rest[rest.index(after: $0)...] } ?? rest
        let end = afterReady.range(of: GuestInit.exitMarker)?.lowerBound ?? afterReady.endIndex
        return String(afterReady[..<end])
    }

    /// The value of `key=value` printed by the command (first occurrence), e.g. `sha256=…`.
    public func reported(_ key: String) -> String? { Self.value(after: "\(key)=", in: commandOutput) }

    private static func value(after prefix: String, in text: some StringProtocol) -> String? {
        guard let r = text.range(of: prefix) else { return nil }
        let v = text[r.upperBound...].prefix { !$0.isWhitespace }
        return v.isEmpty ? nil : String(v)
    }

    private static func lastLine(containing marker: String, in text: String) -> String? {
        text.split(separator: "\n").last { $0.contains(marker) }.map(String.init)
    }
}
