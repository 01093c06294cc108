import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Free TCP ports on the host's loopback interface, for servers a test starts (a forward into
/// the lab's L1, QEMU's VNC server). A port found free can be taken by someone else before its
/// user binds it; the window is short, and the user then fails to start, saying so.
public enum HostTCPPort {
    /// A port the kernel hands out for `127.0.0.1:0` (bound, read with `getsockname`, closed).
    ///
    /// - Throws: ``GuestKitError/noFreeHostPort(errno:)``.
    public static func free() throws -> Int {
        try bindable(0) ?? { throw GuestKitError.noFreeHostPort(errno: errno) }()
    }

    /// The first port in `range` that `127.0.0.1` can bind, such as a VNC display's
    /// (`5900 + N`, which QEMU's `-vnc 127.0.0.1:N` needs).
    ///
    /// - Throws: ``GuestKitError/noFreeHostPort(errno:)`` when none can.
    public static func free(in range: ClosedRange<Int>) throws -> Int {
        for port in range {
            if let p = try bindable(port) { return p }
        }
        throw GuestKitError.noFreeHostPort(errno: EADDRINUSE)
    }

    /// `port` (the kernel's choice for 0) when a TCP socket binds `127.0.0.1:port`; `nil` otherwise.
    private static func bindable(_ port: Int) throws -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw GuestKitError.noFreeHostPort(errno: errno) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = in_addr_t(UInt32(0x7f00_0001).bigEndian)
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        // SAFETY: `address` is a sockaddr_in of `length` bytes, alive for both calls.
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { return nil }
        var actual = sockaddr_in()
        var actualLength = length
        let named = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &actualLength) }
        }
        guard named == 0 else { return nil }
        return Int(UInt16(bigEndian: actual.sin_port))
    }
}
