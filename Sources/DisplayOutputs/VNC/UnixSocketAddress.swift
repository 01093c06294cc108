import Glibc

/// A UNIX socket path as `sockaddr_un`: the listener binds it (and probes a stale socket at it),
/// ``VNCFrameCapture`` connects to it.
struct UnixSocketAddress {
    private var address = sockaddr_un()

    /// The address of `path`; throws when it does not fit `sun_path` with its terminator.
    init(_ path: String) throws(VNCError) {
        let maxPath = MemoryLayout.size(ofValue: address.sun_path) - 1
        guard path.utf8.count <= maxPath else { throw .socketPathTooLong(path, maximum: maxPath) }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { p in
            for (i, b) in path.utf8.enumerated() { p[i] = b }
        }
    }

    /// `connect(2)`: 0, or -1 with `errno` set.
    func connect(_ fd: Int32) -> Int32 {
        withSocketAddress { Glibc.connect(fd, $0, $1) }
    }

    /// `bind(2)`: 0, or -1 with `errno` set.
    func bind(_ fd: Int32) -> Int32 {
        withSocketAddress { Glibc.bind(fd, $0, $1) }
    }

    private func withSocketAddress(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        withUnsafePointer(to: address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}
