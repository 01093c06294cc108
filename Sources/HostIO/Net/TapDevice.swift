import CDeviceModelShims
#if canImport(Glibc)
import Glibc
#endif

/// A Linux tap interface opened with `IFF_TAP | IFF_NO_PI | IFF_VNET_HDR`, non-blocking,
/// each frame preceded by a vnet header of ``vnetHeaderSize`` bytes (`TUNSETVNETHDRSZ`).
/// With `IFF_MULTI_QUEUE` (``openQueues(name:count:vnetHeaderSize:)``) each instance is one
/// queue of the interface: one descriptor per virtio-net queue pair.
public final class TapDevice: QueueSteeredPacketBackend {
    /// The interface name the kernel reports.
    public let name: String
    public let pollFD: Int32
    /// True when swiftdm created the interface (it disappears when closed).
    public let created: Bool
    /// What this kernel's tap accepts in `TUNSETOFFLOAD`, probed at open (USO needs 6.2+).
    public let supportedOffloads: PacketOffloads

    // linux/if_tun.h
    private static let iffTap: Int32 = 0x0002
    private static let iffNoPI: Int32 = 0x1000
    private static let iffVnetHdr: Int32 = 0x4000
    private static let iffMultiQueue: Int32 = 0x0100
    private static let iffAttachQueue: Int16 = 0x0200
    private static let iffDetachQueue: Int16 = 0x0400
    private static let tunSetQueue: UInt = 0x4004_54D9        // _IOW('T', 217, int)
    private static let tunSetOffload: UInt = 0x4004_54D0      // _IOW('T', 208, unsigned int)
    private static let tunSetVnetHdrSz: UInt = 0x4004_54D8    // _IOW('T', 216, int)
    /// The vnet header size a ``PacketBackend`` user expects: Linux's
    /// `struct virtio_net_hdr_v1`, with `num_buffers` (12 bytes).
    public static let defaultVnetHeaderSize = 12
    /// The size of the header in front of every frame, in both directions.
    public let vnetHeaderSize: Int

    /// Attaches to tap `name`, creating it when it does not exist and the process may
    /// (CAP_NET_ADMIN); a created interface is brought up. Frames carry a vnet header of
    /// `vnetHeaderSize` bytes (the kernel takes 10 or more). Nothing is offloaded until
    /// ``setOffloads(_:)``. With `multiQueue`, the descriptor is one queue of the interface
    /// (`IFF_MULTI_QUEUE`; an existing tap must have been created that way).
    public init(name: String, vnetHeaderSize: Int = TapDevice.defaultVnetHeaderSize, multiQueue: Bool = false) throws(PacketBackendError) {
        guard !name.isEmpty, name.utf8.count < 16, !name.contains("/"), !name.contains(where: \.isWhitespace) else {
            throw .invalidName(name)
        }
        guard let headerSize = Int32(exactly: vnetHeaderSize), headerSize >= 10 else {
            throw .invalidVnetHeaderSize(vnetHeaderSize)
        }
        let existed = swiftdm_if_index(name) > 0
        var kernelName = [CChar](repeating: 0, count: 16)
        let fd = swiftdm_tap_open(name, Self.iffTap | Self.iffNoPI | Self.iffVnetHdr | (multiQueue ? Self.iffMultiQueue : 0), &kernelName)
        guard fd >= 0 else { throw .openFailed(name: name, errno: -fd, existed: existed) }
        var size = headerSize
        guard swiftdm_ioctl_ptr(fd, Self.tunSetVnetHdrSz, &size) == 0 else {
            let e = errno
            close(fd)
            throw .ioctlFailed(request: "TUNSETVNETHDRSZ(\(vnetHeaderSize))", errno: e)
        }
        self.pollFD = fd
        self.vnetHeaderSize = vnetHeaderSize
        self.created = !existed
        self.name = String(decoding: kernelName.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // The kernel refuses bits it does not know with EINVAL; try the richest set first.
        let candidates: [PacketOffloads] = [.all, [.checksum, .tso4, .tso6, .tsoECN, .ufo], [.checksum, .tso4, .tso6, .tsoECN]]
        supportedOffloads = candidates.first { swiftdm_ioctl_int(fd, Self.tunSetOffload, UInt($0.rawValue)) == 0 } ?? []
        if !existed {
            let r = swiftdm_if_set_up(self.name)
            guard r == 0 else {
                close(fd)
                throw .ioctlFailed(request: "SIOCSIFFLAGS(IFF_UP) on \(self.name)", errno: -r)
            }
        }
        try setOffloads([])
    }

    deinit { close(pollFD) }

    /// Opens `count` queues of the multi-queue tap `name` (created with the first when absent
    /// and permitted): one descriptor per queue pair, as QEMU's `-netdev tap,queues=N`.
    public static func openQueues(name: String, count: Int,
                                  vnetHeaderSize: Int = TapDevice.defaultVnetHeaderSize) throws(PacketBackendError) -> [TapDevice] {
        var queues: [TapDevice] = []
        for _ in 0..<max(1, count) {
            // The later opens name the interface the first one got (a pattern such as tap%d
            // would otherwise make a new interface each time).
            queues.append(try TapDevice(name: queues.first?.name ?? name, vnetHeaderSize: vnetHeaderSize, multiQueue: true))
        }
        return queues
    }

    /// `ioctl(TUNSETQUEUE)` with `IFF_ATTACH_QUEUE` or `IFF_DETACH_QUEUE`.
    public func setQueueAttached(_ attached: Bool) throws(PacketBackendError) {
        var request = ifreq()
        request.ifr_ifru.ifru_flags = attached ? Self.iffAttachQueue : Self.iffDetachQueue
        guard swiftdm_ioctl_ptr(pollFD, Self.tunSetQueue, &request) == 0 else {
            let e = errno
            // Attaching an attached queue (or detaching a detached one) is EINVAL: no change.
            if e == EINVAL { return }
            throw .ioctlFailed(request: "TUNSETQUEUE(\(attached ? "IFF_ATTACH_QUEUE" : "IFF_DETACH_QUEUE"))", errno: e)
        }
    }

    /// `ioctl(TUNSETOFFLOAD)`.
    public func setOffloads(_ offloads: PacketOffloads) throws(PacketBackendError) {
        guard swiftdm_ioctl_int(pollFD, Self.tunSetOffload, UInt(offloads.rawValue)) == 0 else {
            throw .ioctlFailed(request: "TUNSETOFFLOAD(0x\(String(offloads.rawValue, radix: 16)))", errno: errno)
        }
    }

    /// `writev(2)` of the segments, retried on EINTR.
    public func send(_ segments: [UnsafeRawBufferPointer]) throws(PacketBackendError) -> Int? {
        // A frame rarely has more than a few segments: the iovecs live on the stack.
        let result = withUnsafeTemporaryAllocation(of: iovec.self, capacity: segments.count) { iov -> Result<Int?, PacketBackendError> in
            for (i, s) in segments.enumerated() {
                iov[i] = iovec(iov_base: UnsafeMutableRawPointer(mutating: s.baseAddress), iov_len: s.count)
            }
            while true {
                let n = writev(pollFD, iov.baseAddress, Int32(segments.count))
                if n >= 0 { return .success(n) }
                switch errno {
                case EINTR: continue
                case EAGAIN: return .success(nil)
                case let e: return .failure(.sendFailed(errno: e))
                }
            }
        }
        return try result.get()
    }

    /// `read(2)` of one frame, retried on EINTR.
    public func receive(into buffer: UnsafeMutableRawBufferPointer) throws(PacketBackendError) -> Int? {
        while true {
            let n = read(pollFD, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            switch errno {
            case EINTR: continue
            case EAGAIN: return nil
            case let e: throw .receiveFailed(errno: e)
            }
        }
    }
}
