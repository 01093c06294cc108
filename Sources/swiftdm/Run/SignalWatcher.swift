import CDeviceModelShims
#if canImport(Glibc)
import Glibc
#endif

/// Turns SIGINT, SIGTERM and SIGHUP into a callback on a thread of its own (`sigwait`), so that
/// stopping the VM happens in ordinary code rather than in a signal handler.
///
/// Must be created before any other thread: the signals are blocked in the calling thread and
/// every thread created afterwards inherits that mask, so only the watcher receives them.
final class SignalWatcher: Sendable {
    static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    init(_ handler: @escaping @Sendable (Int32) -> Void) {
        var set = sigset_t()
        sigemptyset(&set)
        for s in Self.signals { sigaddset(&set, s) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let box = Unmanaged.passRetained(Box(set: set, handler: handler)).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            swiftdm_set_thread_name("signals")
            var set = box.set
            while true {
                var signal: Int32 = 0
                if sigwait(&set, &signal) == 0 { box.handler(signal) }
            }
        }, box)
        if rc == 0 {
            pthread_detach(tid)
        } else {
            Unmanaged<Box>.fromOpaque(box).release()
        }
    }

    private final class Box {
        let set: sigset_t
        let handler: @Sendable (Int32) -> Void
        init(set: sigset_t, handler: @escaping @Sendable (Int32) -> Void) {
            self.set = set
            self.handler = handler
        }
    }
}
