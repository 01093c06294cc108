import CGLib
import CDeviceModelShims
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Readiness conditions for ``EventLoop/watch(fd:for:_:)``.
public struct FDConditions: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let readable = FDConditions(rawValue: UInt32(G_IO_IN.rawValue))
    public static let writable = FDConditions(rawValue: UInt32(G_IO_OUT.rawValue))
    public static let hangup = FDConditions(rawValue: UInt32(G_IO_HUP.rawValue))
    public static let error = FDConditions(rawValue: UInt32(G_IO_ERR.rawValue))
}

/// Errors from creating an event loop.
public enum EventLoopError: Error, Equatable, CustomStringConvertible {
    case threadCreateFailed(name: String, errno: Int32)

    public var description: String {
        switch self {
        case .threadCreateFailed(let name, let e): "cannot start I/O thread \(name): errno \(e)"
        }
    }
}

/// A GLib main context driven by one thread, as QEMU's main loop and IOThreads are.
///
/// All callbacks registered on a loop run on its thread, one at a time, so state touched
/// only from callbacks needs no lock. Cross-thread submissions (``execute(_:)``) wake the
/// loop through GLib's eventfd-based `GWakeup`; nothing polls in a busy loop.
public final class EventLoop: @unchecked Sendable {
    // SAFETY (@unchecked): `context` and `loop` are GLib objects whose API is thread-safe
    // (g_main_context_invoke, g_source_attach/destroy, g_main_loop_quit); `thread` is
    // written once under `state`.
    let context: OpaquePointer
    private let loop: OpaquePointer
    public let name: String
    private let state = Mutex<State>(State())

    private struct State {
        var threadID: pthread_t?
        var running = false
        var finished = false
    }

    /// Creates a loop with its own context. With `startThread` (the default) a dedicated
    /// thread named `name` runs it until ``shutdown()``; otherwise call ``run()``.
    public init(name: String, startThread: Bool = true) throws(EventLoopError) {
        self.name = name
        self.context = g_main_context_new()
        self.loop = g_main_loop_new(context, 0)
        if startThread { try spawnThread() }
    }

    deinit {
        g_main_loop_unref(loop)
        g_main_context_unref(context)
    }

    private final class ThreadStart {
        let loop: EventLoop
        init(_ loop: EventLoop) { self.loop = loop }
    }

    private func spawnThread() throws(EventLoopError) {
        let started = DispatchSemaphore(value: 0)
        let box = Unmanaged.passRetained(ThreadStartBox(loop: self, started: started)).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            let box = Unmanaged<ThreadStartBox>.fromOpaque(raw!).takeRetainedValue()
            swiftdm_set_thread_name(String(box.loop.name.prefix(15)))
            box.loop.run(signalling: box.started)
            return nil
        }, box)
        guard rc == 0 else {
            Unmanaged<ThreadStartBox>.fromOpaque(box).release()
            throw .threadCreateFailed(name: name, errno: rc)
        }
        state.withLock { $0.threadID = tid }
        started.wait()
    }

    /// Runs the loop on the calling thread until ``shutdown()``.
    public func run() { run(signalling: nil) }

    private func run(signalling started: DispatchSemaphore?) {
        g_main_context_push_thread_default(context)
        state.withLock { $0.running = true }
        if let started {
            // Signal from inside the loop so `execute` callers never race the first iteration.
            execute { started.signal() }
        }
        g_main_loop_run(loop)
        g_main_context_pop_thread_default(context)
        state.withLock {
            $0.running = false
            $0.finished = true
        }
    }

    /// True when called from the loop's own thread (inside a callback or ``run()``).
    public var isCurrent: Bool { g_main_context_is_owner(context) != 0 }

    /// Stops the loop and joins its thread (if it has one). Idempotent; must not be called
    /// from the loop's own thread if it has a dedicated one.
    public func shutdown() {
        g_main_loop_quit(loop)
        g_main_context_wakeup(context)
        let tid: pthread_t? = state.withLock {
            let t = $0.threadID
            $0.threadID = nil
            return t
        }
        if let tid, pthread_equal(tid, pthread_self()) == 0 { pthread_join(tid, nil) }
    }

    /// Runs `work` on the loop's thread as soon as possible (immediately when already on it).
    public func execute(_ work: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(CallbackBox { _, _ in work(); return false }).toOpaque()
        g_main_context_invoke_full(context, G_PRIORITY_DEFAULT, { data in
            Unmanaged<CallbackBox>.fromOpaque(data!).takeUnretainedValue().fire(-1, 0) ? 1 : 0
        }, box, { data in Unmanaged<CallbackBox>.fromOpaque(data!).release() })
    }

    /// Runs `work` on the loop's thread and waits for its result.
    public func sync<T: Sendable>(_ work: @escaping @Sendable () -> T) -> T {
        if isCurrent { return work() }
        let result = Mutex<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        execute {
            let value = work()
            result.withLock { $0 = value }
            done.signal()
        }
        done.wait()
        return result.withLock { $0! }
    }

    /// Calls `handler` on the loop's thread whenever `fd` meets any of `conditions`
    /// (level-triggered). The watch lasts until the returned source is cancelled.
    @discardableResult
    public func watch(fd: Int32, for conditions: FDConditions = .readable,
                      _ handler: @escaping @Sendable (FDConditions) -> Void) -> EventSource {
        let source = g_unix_fd_source_new(fd, GIOCondition(rawValue: conditions.rawValue))!
        let box = Unmanaged.passRetained(CallbackBox { _, cond in
            handler(FDConditions(rawValue: cond))
            return true
        }).toOpaque()
        let trampoline: GUnixFDSourceFunc = { fd, cond, data in
            Unmanaged<CallbackBox>.fromOpaque(data!).takeUnretainedValue().fire(fd, cond.rawValue) ? 1 : 0
        }
        g_source_set_callback(source, unsafeBitCast(trampoline, to: GSourceFunc.self), box) { data in
            Unmanaged<CallbackBox>.fromOpaque(data!).release()
        }
        return attach(source)
    }

    /// Calls `handler` on the loop's thread after `delay`, and then every `delay` while it
    /// returns `true`. Millisecond resolution (GLib timeout sources).
    @discardableResult
    public func schedule(after delay: Duration, _ handler: @escaping @Sendable () -> Bool) -> EventSource {
        let ms = max(0, delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000)
        let source = g_timeout_source_new(UInt32(clamping: ms))!
        let box = Unmanaged.passRetained(CallbackBox { _, _ in handler() }).toOpaque()
        g_source_set_callback(source, { data in
            Unmanaged<CallbackBox>.fromOpaque(data!).takeUnretainedValue().fire(-1, 0) ? 1 : 0
        }, box) { data in Unmanaged<CallbackBox>.fromOpaque(data!).release() }
        return attach(source)
    }

    private func attach(_ source: UnsafeMutablePointer<GSource>) -> EventSource {
        g_source_attach(source, context)
        return EventSource(source: source)
    }
}

private final class ThreadStartBox {
    let loop: EventLoop
    let started: DispatchSemaphore
    init(loop: EventLoop, started: DispatchSemaphore) {
        self.loop = loop
        self.started = started
    }
}

/// Holds a Swift closure for a GLib callback; GLib owns one retain and releases it when
/// the source is destroyed.
final class CallbackBox {
    let fire: (Int32, UInt32) -> Bool
    init(_ fire: @escaping (Int32, UInt32) -> Bool) { self.fire = fire }
}

/// A registration on an ``EventLoop``: an fd watch or a timer. Cancel it to stop callbacks;
/// after ``cancel()`` returns on the loop's thread no further callback runs. Cancelling from
/// another thread stops callbacks from the loop's next iteration on.
public final class EventSource: @unchecked Sendable {
    // SAFETY (@unchecked): g_source_destroy/g_source_unref are thread-safe.
    private let source: UnsafeMutablePointer<GSource>
    private let cancelled = Atomic<Bool>(false)

    init(source: UnsafeMutablePointer<GSource>) { self.source = source }

    /// Removes the source from its loop. Idempotent.
    public func cancel() {
        guard !cancelled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        g_source_destroy(source)
    }

    deinit {
        cancel()
        g_source_unref(source)
    }
}
