#if canImport(Glibc)
import Glibc
#endif

/// An append-only, thread-safe log of things that happened (interrupts, register accesses)
/// that a test can inspect and wait on without busy-waiting.
///
/// Producers (device threads, vCPU threads) call ``record(_:)``. A test reads the whole
/// history (``all``), consumes events in order (``next(timeout:)``), or blocks until the
/// history satisfies a condition (``wait(timeout:until:)``). Waiting sleeps on a condition
/// variable that every ``record(_:)`` broadcasts; the timeout is measured on the monotonic
/// clock and only bounds how long a broken device can stall a test.
public final class EventRecorder<Element: Sendable>: @unchecked Sendable {
    // SAFETY (@unchecked): `events` and `consumed` are only touched with `mutex` held; the
    // mutex and condition live at fixed heap addresses from init to deinit, as pthreads
    // requires.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var events: [Element] = []
    private var consumed = 0

    /// Creates an empty recorder.
    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        // Deadlines on the monotonic clock: wall-clock jumps must not stretch or cut waits.
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    private func locked<R>(_ body: () -> R) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    /// Appends `event` and wakes every waiter.
    public func record(_ event: Element) {
        locked {
            events.append(event)
            pthread_cond_broadcast(condition)
        }
    }

    /// Everything recorded so far, oldest first.
    public var all: [Element] { locked { events } }

    /// Number of events recorded so far.
    public var count: Int { locked { events.count } }

    /// The most recent event, if any.
    public var last: Element? { locked { events.last } }

    /// Forgets all events, including which ones ``next(timeout:)`` has returned.
    public func removeAll() {
        locked {
            events.removeAll()
            consumed = 0
        }
    }

    /// Returns the oldest event not yet returned by `next`, waiting up to `timeout` for one
    /// to be recorded; `nil` on timeout. Events recorded before the call are not missed.
    public func next(timeout: Duration) -> Element? {
        let deadline = Self.deadline(after: timeout)
        return locked {
            guard waitLocked(until: deadline, { consumed < events.count }) else { return nil }
            consumed += 1
            return events[consumed - 1]
        }
    }

    /// Blocks until `condition` holds for the history (oldest first) or `timeout` passes;
    /// returns whether it holds. `condition` runs with the recorder locked: it must not call
    /// back into the recorder.
    public func wait(timeout: Duration, until condition: ([Element]) -> Bool) -> Bool {
        let deadline = Self.deadline(after: timeout)
        return locked { waitLocked(until: deadline, { condition(events) }) }
    }

    /// Blocks until at least `count` events have been recorded or `timeout` passes.
    public func wait(forCount count: Int, timeout: Duration) -> Bool {
        wait(timeout: timeout) { $0.count >= count }
    }

    /// Sleeps on the condition until `ready()` or the deadline; the mutex must be held.
    private func waitLocked(until deadline: timespec, _ ready: () -> Bool) -> Bool {
        var deadline = deadline
        while !ready() {
            if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT { return ready() }
        }
        return true
    }

    /// `timeout` from now on the monotonic clock; negative timeouts mean "now", absurdly
    /// long ones are capped at about a century.
    static func deadline(after timeout: Duration) -> timespec {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        guard timeout > .zero else { return now }
        // Positive durations have non-negative components.
        let (seconds, attoseconds) = timeout.components
        let wholeSeconds = Int(min(seconds, 3_153_600_000))
        let nanoseconds = Int(attoseconds / 1_000_000_000)
        var result = now
        result.tv_sec += wholeSeconds
        result.tv_nsec += nanoseconds
        if result.tv_nsec >= 1_000_000_000 {
            result.tv_sec += 1
            result.tv_nsec -= 1_000_000_000
        }
        return result
    }
}
