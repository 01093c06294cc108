import Foundation

/// A network namespace owned by one test or bench run: its interfaces, addresses and routes
/// exist only inside it, so a guest's traffic never reaches the host's own network. Deleted
/// (with every interface in it) when released.
public final class NetworkNamespace: Sendable {
    /// The namespace's name, as `ip netns` lists it.
    public let name: String

    /// Creates namespace `name` with its loopback up, deleting a leftover of that name first.
    ///
    /// - Throws: ``GuestKitError/hostCommandFailed(command:status:output:)`` from `ip`.
    public init(name: String) throws {
        self.name = name
        _ = try? HostCommand.run(["ip", "netns", "del", name])   // a leftover of a killed run
        try HostCommand.run(["ip", "netns", "add", name])
        try HostCommand.run(["ip", "-n", name, "link", "set", "lo", "up"])
    }

    deinit { _ = try? HostCommand.run(["ip", "netns", "del", name]) }

    /// The prefix that runs a command inside the namespace.
    public var launcher: [String] { ["ip", "netns", "exec", name] }

    /// Adds a persistent tap `tap` with `address` (CIDR), up; `multiQueue` makes it an
    /// `IFF_MULTI_QUEUE` tap (one descriptor per queue pair).
    ///
    /// - Throws: ``GuestKitError/hostCommandFailed(command:status:output:)`` from `ip`.
    public func addTap(_ tap: String, address: String, multiQueue: Bool = false) throws {
        try HostCommand.run(["ip", "-n", name, "tuntap", "add", "dev", tap, "mode", "tap"] + (multiQueue ? ["multi_queue"] : []))
        try HostCommand.run(["ip", "-n", name, "addr", "add", address, "dev", tap])
        try HostCommand.run(["ip", "-n", name, "link", "set", tap, "up"])
    }

    /// Why namespaces cannot be used here, or nil when they can (root, iproute2, a kernel
    /// with network namespaces and tun).
    public static let unavailableReason: String? = {
        guard getuid() == 0 else { return "needs root (network namespaces and taps)" }
        guard HostCommand.exists("ip") else { return "iproute2's ip is not installed" }
        guard access("/dev/net/tun", R_OK | W_OK) == 0 else { return "/dev/net/tun is not available" }
        let probe = "swdm-probe-\(getpid())"
        do {
            try HostCommand.run(["ip", "netns", "add", probe])
            try HostCommand.run(["ip", "netns", "del", probe])
        } catch {
            return "cannot create a network namespace: \(error)"
        }
        return nil
    }()
}
