/// The host side of a guest's network for iperf3: a network namespace of its own holding a
/// persistent tap (addressed, up) and an `iperf3` server bound to the tap's address. A backend
/// that attaches the tap (`swiftdm vhost-user --net tap=NAME`, or QEMU's `-netdev tap`) runs
/// in the namespace through ``launcher``; QEMU with a vhost-user netdev reaches its backend
/// over a UNIX socket, so no packet leaves the namespace. Everything goes when released.
public final class IperfTapNetwork: Sendable {
    /// The namespace, the tap in it and the server's (the tap's) address.
    public let namespace: NetworkNamespace
    public let tap: String
    public let hostAddress: String
    /// The `iperf3 -s` process.
    public let server: ConsoleProcess

    /// Creates namespace `namespaceName` with tap `tap` at `hostAddress/prefixLength` and starts
    /// the server there, waiting up to 20 s for it to listen; `multiQueue` makes the tap an
    /// `IFF_MULTI_QUEUE` one (a backend then opens one descriptor per queue pair).
    ///
    /// - Parameter echo: Receives the server's output as it arrives.
    /// - Throws: ``GuestKitError/hostCommandFailed(command:status:output:)`` from `ip`, or
    ///   ``GuestKitError/iperfServerDidNotStart(output:)``.
    public init(namespaceName: String, tap: String, hostAddress: String, prefixLength: Int = 24, multiQueue: Bool = false,
                echo: (@Sendable (String) -> Void)? = nil) throws {
        namespace = try NetworkNamespace(name: namespaceName)
        self.tap = tap
        self.hostAddress = hostAddress
        try namespace.addTap(tap, address: "\(hostAddress)/\(prefixLength)", multiQueue: multiQueue)
        server = try ConsoleProcess(namespace.launcher + ["iperf3", "-s", "-B", hostAddress, "--forceflush"], echo: echo)
        guard server.waitForOutput(containing: "Server listening", timeout: .seconds(20)) else {
            server.kill()
            throw GuestKitError.iperfServerDidNotStart(output: server.output)
        }
    }

    /// The prefix that runs a command in the namespace, where the tap is.
    public var launcher: [String] { namespace.launcher }

    deinit { server.kill() }
}
