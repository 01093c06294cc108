import CXen
#if canImport(Glibc)
import Glibc
#endif

/// ``XenStore`` over libxenstore.
public final class LibxenStore: XenStore, @unchecked Sendable {
    // SAFETY (@unchecked): an `xs_handle` opened without XS_UNWATCH_FILTER serialises its
    // requests internally (libxenstore takes its request mutex; once a watch exists its
    // reader thread queues events under the watch mutex); immutable until deinit.
    private let handle: OpaquePointer

    init() throws(XenError) {
        guard let h = xs_open(0) else { throw .callFailed(function: "xs_open", domid: nil, errno: errno) }
        handle = h
    }

    deinit { xs_close(handle) }

    public func write(_ value: String, at path: String) throws(XenError) {
        let ok = value.withCString { v in xs_write(handle, xs_transaction_t(XBT_NULL), path, v, UInt32(strlen(v))) }
        guard ok else { throw .callFailed(function: "xs_write(\(path))", domid: nil, errno: errno) }
    }

    public func read(_ path: String) throws(XenError) -> String? {
        var length: UInt32 = 0
        guard let raw = xs_read(handle, xs_transaction_t(XBT_NULL), path, &length) else {
            if errno == ENOENT { return nil }
            throw .callFailed(function: "xs_read(\(path))", domid: nil, errno: errno)
        }
        defer { free(raw) }
        let bytes = UnsafeRawBufferPointer(start: raw, count: Int(length))
        return String(decoding: bytes, as: UTF8.self)
    }

    public func watch(_ path: String, token: String) throws(XenError) {
        guard xs_watch(handle, path, token) else { throw .callFailed(function: "xs_watch(\(path))", domid: nil, errno: errno) }
    }

    public func unwatch(_ path: String, token: String) throws(XenError) {
        guard xs_unwatch(handle, path, token) else { throw .callFailed(function: "xs_unwatch(\(path))", domid: nil, errno: errno) }
    }

    public func watchFileDescriptor() throws(XenError) -> Int32 {
        let fd = xs_fileno(handle)
        guard fd >= 0 else { throw .callFailed(function: "xs_fileno", domid: nil, errno: errno) }
        return fd
    }

    public func nextWatchEvent() throws(XenError) -> XenStoreWatchEvent? {
        guard let vector = xs_check_watch(handle) else {
            if errno == EAGAIN { return nil }
            throw .callFailed(function: "xs_check_watch", domid: nil, errno: errno)
        }
        // One allocation holds the pointer array and both strings (freed all in one go).
        defer { free(vector) }
        let path = vector[Int(XS_WATCH_PATH.rawValue)].map { String(cString: $0) } ?? ""
        let token = vector[Int(XS_WATCH_TOKEN.rawValue)].map { String(cString: $0) } ?? ""
        return XenStoreWatchEvent(path: path, token: token)
    }
}
