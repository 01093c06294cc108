import CGLib
import CDeviceModelShims
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Readiness conditions for ``EventLoop/watch(fd:for:_:)``.
public struct FDConditions: OptionSet, Sendable {
    /// The GLib `GIOCondition` bits.
    public let rawValue: UInt32
    /// Wraps `GIOCondition` bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Data can be read (`G_IO_IN`).
    public static let readable = FDConditions(rawValue: UInt32(G_IO_IN.rawValue))
    /// Data can be written (`G_IO_OUT`).
    public static let writable = FDConditions(rawValue: UInt32(G_IO_OUT.rawValue))
    /// The peer hung up (`G_IO_HUP`); reported even when not asked for.
    public static let hangup = FDConditions(rawValue: UInt32(G_IO_HUP.rawValue))
    /// An error condition (`G_IO_ERR`); reported even when not asked for.
    public static let error = FDConditions(rawValue: UInt32(G_IO_ERR.rawValue))
}

/// Errors from creating an event loop.
public enum EventLoopError: Error, Equatable, CustomStringConvertible {
    /// `pthread_create` failed for the loop's thread.
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
///
/// Lifetime: a loop runs once. A dedicated thread keeps its loop alive until ``shutdown()``,
/// which lets work already submitted with ``execute(_:)`` finish, stops the loop and joins
/// the thread. Work submitted after ``shutdown()`` is discarded.
public final class EventLoop: @unchecked Sendable {
    // SAFETY (@unchecked): `context` and `loop` are GLib objects whose API is thread-safe
    // (g_source_attach/destroy, g_main_context_wakeup, g_main_loop_quit); everything
    // mutable is in `state`, behind its mutex.
    let context: OpaquePointer
    private let loop: OpaquePointer
    /// The loop's name (also its thread's name, truncated to 15 bytes).
    public let name: String
    private let state = Mutex<State>(State())

    private struct State {
        var threadID: pthread_t?
        /// False once ``shutdown()`` has queued the quit: later work is refused, so
        /// everything accepted runs before the loop stops.
        var accepting = true
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
        if let started {
            // Signal from inside the loop so `execute` callers never race the first iteration.
            execute { started.signal() }
        }
        g_main_loop_run(loop)
        g_main_context_pop_thread_default(context)
    }

    /// True when called from the loop's own thread (inside a callback or ``run()``).
    public var isCurrent: Bool { g_main_context_is_owner(context) != 0 }

    /// Stops the loop and joins its thread (if it has one). Idempotent.
    ///
    /// Work accepted by ``execute(_:)`` before this call still runs; fd watches and timers
    /// stop. Called from the loop's own thread (inside a callback), it returns at once and
    /// the thread exits (detached) when the callback returns.
    public func shutdown() {
        let quit: @Sendable () -> Void = { [loop = UInt(bitPattern: loop)] in
            g_main_loop_quit(OpaquePointer(bitPattern: loop))
        }
        let tid: pthread_t? = state.withLock { s in
            if s.accepting {
                // Queued behind all accepted work (same priority, FIFO), then refuse more.
                attachIdle(quit)
                s.accepting = false
            }
            let t = s.threadID
            s.threadID = nil
            return t
        }
        guard let tid else { return }
        if pthread_equal(tid, pthread_self()) != 0 {
            pthread_detach(tid)
        } else {
            pthread_join(tid, nil)
        }
    }

    /// Runs `work` on the loop's thread as soon as possible (immediately when already on it).
    /// Submissions from one thread run in order. After ``shutdown()`` the work is discarded.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        if isCurrent {
            work()
            return
        }
        _ = enqueue(work)
    }

    /// Queues `work` as a one-shot idle source; false when the loop no longer accepts work.
    private func enqueue(_ work: @escaping @Sendable () -> Void) -> Bool {
        state.withLock { s in
            guard s.accepting else { return false }
            attachIdle(work)
            return true
        }
    }

    /// Attaches a one-shot source at default priority; attaching wakes the loop.
    /// Never runs `work` itself, so it is safe under `state`'s lock.
    private func attachIdle(_ work: @escaping @Sendable () -> Void) {
        let source = g_idle_source_new()!
        g_source_set_priority(source, G_PRIORITY_DEFAULT)
        let box = Unmanaged.passRetained(CallbackBox { _, _ in work(); return false }).toOpaque()
        g_source_set_callback(source, { data in
            Unmanaged<CallbackBox>.fromOpaque(data!).takeUnretainedValue().fire(-1, 0) ? 1 : 0
        }, box) { data in Unmanaged<CallbackBox>.fromOpaque(data!).release() }
        g_source_attach(source, context)
        // The context holds its own reference until the source has run.
        g_source_unref(source)
    }

    /// Runs `work` on the loop's thread and waits for its result.
    ///
    /// Calling it after ``shutdown()`` (when nothing would ever run `work`) is a programming
    /// error and traps, rather than blocking forever.
    public func sync<T: Sendable>(_ work: @escaping @Sendable () -> T) -> T {
        if isCurrent { return work() }
        let result = Mutex<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        let accepted = enqueue {
            let value = work()
            result.withLock { $0 = value }
            done.signal()
        }
        precondition(accepted, "EventLoop \(name): sync() after shutdown()")
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
        // GLib "blocks" a non-recursive source while dispatching it: it removes the fd from
        // the poll set and adds it back afterwards, and each change writes the context's
        // wake-up eventfd (read again by the next iteration): three system calls per
        // dispatch, measured on every virtqueue kick. Nothing here iterates a context from
        // inside a callback, so the blocking protects nothing.
        g_source_set_can_recurse(source, 1)
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
/// another thread stops callbacks from the loop's next iteration on (one already running
/// finishes).
///
/// Dropping the last reference does *not* cancel: a registration whose result is discarded
/// lasts as long as its loop. Cancel a watch before closing its fd.
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
        // Only our reference: the context keeps its own until the source is destroyed.
        g_source_unref(source)
    }
}
