import CXen
import Logging

/// A `xentoollog_logger` that sends libxen's messages to swift-log at debug level.
///
/// Without one, libxencall and friends print their own errors on stderr (e.g. when
/// `/dev/xen/privcmd` is missing); our typed ``XenError``s already carry the errno.
/// libxen keeps the pointer, so every handle opened with it holds a reference.
final class LibxenLogger: @unchecked Sendable {
    // SAFETY (@unchecked): `storage` is written once in init; libxen only reads it and
    // calls `sink`, which uses the thread-safe `Logger`.
    private let storage: UnsafeMutablePointer<swiftdm_xtl_logger>
    let logger: Logger

    init(logger: Logger) {
        self.logger = logger
        storage = .allocate(capacity: 1)
        swiftdm_xtl_logger_init(storage, { context, level, errnoval, message in
            guard let context, let message else { return }
            let me = Unmanaged<LibxenLogger>.fromOpaque(context).takeUnretainedValue()
            let text = String(cString: message)
            me.logger.debug("libxen[\(level)]: \(text)\(errnoval >= 0 ? " (errno \(errnoval))" : "")")
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit { storage.deallocate() }

    /// The pointer to pass as `struct xentoollog_logger *`.
    var pointer: UnsafeMutablePointer<xentoollog_logger> { swiftdm_xtl_logger_base(storage) }
}
