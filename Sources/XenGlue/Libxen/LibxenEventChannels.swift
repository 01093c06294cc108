import CXen
import CDeviceModelShims
#if canImport(Glibc)
import Glibc
#endif

/// ``XenEventChannels`` over libxenevtchn (`/dev/xen/evtchn`).
public final class LibxenEventChannels: XenEventChannels, @unchecked Sendable {
    // SAFETY (@unchecked): each call is one read/write/ioctl on the evtchn fd, which the
    // kernel serialises; `handle` is immutable until deinit.
    private let handle: OpaquePointer
    private let log: LibxenLogger
    public let fileDescriptor: Int32

    init(log: LibxenLogger) throws(XenError) {
        guard let h = xenevtchn_open(log.pointer, 0) else {
            throw .callFailed(function: "xenevtchn_open", domid: nil, errno: errno)
        }
        let fd = xenevtchn_fd(h)
        // Non-blocking, so `pending()` can drain every fired port after one poll wake-up.
        guard fd >= 0, swiftdm_set_nonblocking(fd, 1) == 0 else {
            let e = errno
            xenevtchn_close(h)
            throw .callFailed(function: "fcntl(evtchn fd, O_NONBLOCK)", domid: nil, errno: e)
        }
        handle = h
        fileDescriptor = fd
        self.log = log
    }

    deinit { xenevtchn_close(handle) }

    public func bindInterdomain(domid: XenDomainID, remotePort: XenEventChannelPort) throws(XenError) -> XenEventChannelPort {
        let rc = xenevtchn_bind_interdomain(handle, UInt32(domid), remotePort)
        guard rc >= 0 else { throw .callFailed(function: "xenevtchn_bind_interdomain", domid: domid, errno: errno) }
        return XenEventChannelPort(rc)
    }

    public func unbind(_ port: XenEventChannelPort) throws(XenError) {
        guard xenevtchn_unbind(handle, port) == 0 else {
            throw .callFailed(function: "xenevtchn_unbind", domid: nil, errno: errno)
        }
    }

    public func notify(_ port: XenEventChannelPort) throws(XenError) {
        guard xenevtchn_notify(handle, port) == 0 else {
            throw .callFailed(function: "xenevtchn_notify", domid: nil, errno: errno)
        }
    }

    public func pending() throws(XenError) -> XenEventChannelPort? {
        while true {
            let rc = xenevtchn_pending(handle)
            if rc >= 0 { return XenEventChannelPort(rc) }
            switch errno {
            case EAGAIN: return nil
            case EINTR: continue
            case let e: throw .callFailed(function: "xenevtchn_pending", domid: nil, errno: e)
            }
        }
    }

    public func unmask(_ port: XenEventChannelPort) throws(XenError) {
        guard xenevtchn_unmask(handle, port) == 0 else {
            throw .callFailed(function: "xenevtchn_unmask", domid: nil, errno: errno)
        }
    }
}
