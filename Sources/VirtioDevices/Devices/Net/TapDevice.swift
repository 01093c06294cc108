import CDeviceModelShims
#if canImport(Glibc)
import Glibc
#endif

/// A Linux tap interface opened with `IFF_TAP | IFF_NO_PI | IFF_VNET_HDR` and a 12-byte
/// virtio-net header (`TUNSETVNETHDRSZ`), non-blocking.
public final class TapDevice: PacketBackend {
    /// The interface name the kernel reports.
    public let name: String
    public let pollFD: Int32

    // linux/if_tun.h
    private static let iffTap: Int32 = 0x0002
    private static let iffNoPI: Int32 = 0x1000
    private static let iffVnetHdr: Int32 = 0x4000
    private static let tunSetOffload: UInt = 0x4004_54D0      // _IOW('T', 208, unsigned int)
    private static let tunSetVnetHdrSz: UInt = 0x4004_54D8    // _IOW('T', 216, int)
    /// Size of `virtio_net_hdr_v1` (with `num_buffers`), used for every frame.
    public static let headerSize = 12

    /// Attaches to tap `name`, creating it when it does not exist and the process may
    /// (CAP_NET_ADMIN); a created interface is brought up.
    public init(name: String) throws(PacketBackendError) {
        guard !name.isEmpty, name.utf8.count < 16, !name.contains("/"), !name.contains(where: \.isWhitespace) else {
            throw .invalidName(name)
        }
        let existed = swiftdm_if_index(name) > 0
        var kernelName = [CChar](repeating: 0, count: 16)
        let fd = swiftdm_tap_open(name, Self.iffTap | Self.iffNoPI | Self.iffVnetHdr, &kernelName)
        guard fd >= 0 else { throw .openFailed(name: name, errno: -fd) }
        var headerSize: Int32 = Int32(Self.headerSize)
        guard swiftdm_ioctl_ptr(fd, Self.tunSetVnetHdrSz, &headerSize) == 0 else {
            let e = errno
            close(fd)
            throw .ioctlFailed(request: "TUNSETVNETHDRSZ", errno: e)
        }
        self.pollFD = fd
        self.name = String(decoding: kernelName.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if !existed {
            let r = swiftdm_if_set_up(self.name)
            guard r == 0 else {
                close(fd)
                throw .ioctlFailed(request: "SIOCSIFFLAGS(IFF_UP) on \(self.name)", errno: -r)
            }
        }
        // Nothing offloaded until the guest negotiates it.
        try setOffloads([])
    }

    deinit { close(pollFD) }

    public func setOffloads(_ offloads: PacketOffloads) throws(PacketBackendError) {
        guard swiftdm_ioctl_int(pollFD, Self.tunSetOffload, UInt(offloads.rawValue)) == 0 else {
            throw .ioctlFailed(request: "TUNSETOFFLOAD(0x\(String(offloads.rawValue, radix: 16)))", errno: errno)
        }
    }

    public func send(_ segments: [UnsafeRawBufferPointer]) throws(PacketBackendError) -> Int? {
        var iov = segments.map { iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count) }
        while true {
            let n = writev(pollFD, &iov, Int32(iov.count))
            if n >= 0 { return n }
            switch errno {
            case EINTR: continue
            case EAGAIN: return nil
            default: throw .sendFailed(errno: errno)
            }
        }
    }

    public func receive(into segments: [UnsafeMutableRawBufferPointer]) throws(PacketBackendError) -> Int? {
        var iov = segments.map { iovec(iov_base: $0.baseAddress, iov_len: $0.count) }
        while true {
            let n = readv(pollFD, &iov, Int32(iov.count))
            if n >= 0 { return n }
            switch errno {
            case EINTR: continue
            case EAGAIN: return nil
            default: throw .receiveFailed(errno: errno)
            }
        }
    }
}
