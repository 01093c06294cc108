#if canImport(Glibc)
import Glibc
#endif

/// Why a ``PacketSocket`` could not be opened or used.
public struct PacketSocketError: Error, Equatable, CustomStringConvertible {
    /// What failed, with the interface and errno.
    public let description: String
}

/// The host's side of a network interface for tests: an `AF_PACKET` raw socket bound to one
/// interface (a tap a device under test uses), which sends Ethernet frames out of it — they
/// reach whoever reads the tap — and receives the frames written into it.
///
/// Needs CAP_NET_RAW. Not thread-safe: one test thread uses it.
public final class PacketSocket {
    /// `PACKET_OUTGOING` in `sockaddr_ll.sll_pkttype`: our own transmissions, looped back.
    private static let outgoing: UInt8 = 4
    private static let ethAll = UInt16(0x0003).bigEndian   // ETH_P_ALL
    private static let addressLength = socklen_t(MemoryLayout<LinkLayerAddress>.size)

    /// `struct sockaddr_ll` (linux/if_packet.h), which Glibc's Swift module does not export.
    private struct LinkLayerAddress {
        var family = UInt16(AF_PACKET)
        var protocolBE: UInt16 = 0
        var interfaceIndex: Int32 = 0
        var hardwareType: UInt16 = 0
        var packetType: UInt8 = 0
        var addressLength: UInt8 = 0
        var address: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0)
    }

    /// The socket.
    public let fd: Int32
    /// The interface's index.
    public let interfaceIndex: Int32

    /// Opens a raw socket on `interface` (`socket(AF_PACKET, SOCK_RAW, ETH_P_ALL)` + `bind`).
    public init(interface: String) throws(PacketSocketError) {
        interfaceIndex = Int32(bitPattern: if_nametoindex(interface))
        guard interfaceIndex > 0 else { throw PacketSocketError(description: "no interface \(interface): errno \(errno)") }
        fd = socket(AF_PACKET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                    Int32(Self.ethAll))
        guard fd >= 0 else { throw PacketSocketError(description: "AF_PACKET socket for \(interface): errno \(errno)") }
        var address = LinkLayerAddress(protocolBE: Self.ethAll, interfaceIndex: interfaceIndex)
        let r = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, Self.addressLength) }
        }
        guard r == 0 else {
            let e = errno
            close(fd)
            throw PacketSocketError(description: "bind AF_PACKET to \(interface): errno \(e)")
        }
    }

    deinit { close(fd) }

    /// Sends `frame` (destination MAC first) out of the interface.
    public func send(_ frame: [UInt8]) throws(PacketSocketError) {
        let n = frame.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
        guard n == frame.count else { throw PacketSocketError(description: "AF_PACKET send of \(frame.count) bytes: \(n), errno \(errno)") }
    }

    /// The next frame the interface received (not one it sent) whose EtherType is
    /// `etherType`, waiting up to `timeout`; nil if none came.
    public func receive(etherType: UInt16, timeout: Duration) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 70_000)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 50) >= 0 else { return nil }
            var from = LinkLayerAddress()
            var length = Self.addressLength
            let n = buffer.withUnsafeMutableBytes { b in
                withUnsafeMutablePointer(to: &from) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, b.baseAddress, b.count, 0, $0, &length) }
                }
            }
            guard n >= 14, from.packetType != Self.outgoing else { continue }
            if UInt16(buffer[12]) << 8 | UInt16(buffer[13]) == etherType { return Array(buffer[0..<n]) }
        }
        return nil
    }
}
