import CXen
#if canImport(Glibc)
import Glibc
#endif

/// ``XenStore`` over libxenstore.
public final class LibxenStore: XenStore, @unchecked Sendable {
    // SAFETY (@unchecked): an `xs_handle` opened without XS_UNWATCH_FILTER serialises its
    // requests internally (libxenstore takes its request mutex); immutable until deinit.
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
}
