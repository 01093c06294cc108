import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Where paused vCPU threads wait: ``VCPURunner/pause()`` closes the gate and waits until every
/// vCPU thread stands at it (or has ended), ``VCPURunner/resume()`` opens it, and the end of
/// the run releases it for good.
///
/// A vCPU thread reaches the gate only between two `KVM_RUN`s, with no exit half handled:
/// that is the safe point QEMU's `pause_all_vcpus` waits for too.
final class VCPUPauseGate: @unchecked Sendable {
    // SAFETY (@unchecked): `paused`, `parked`, `ended` and `released` are read and written only
    // with `mutex` held; `closed` is an atomic the vCPU threads poll without the lock (a stale
    // `false` is harmless: the kick that follows a pause makes `KVM_RUN` return, and the loop
    // looks again). `mutex` and `condition` live in memory allocated once and freed in deinit.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private let closed = Atomic<Bool>(false)
    private var paused = false
    private var parked = 0
    private var ended = 0
    private var released = false

    init() {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
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

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    /// True while a pause is asked for: the vCPU thread should call ``park()``.
    var isClosed: Bool { closed.load(ordering: .acquiring) }

    /// Asks the vCPUs to stop at the gate. Returns false if the gate was already closed.
    func close() -> Bool {
        locked {
            guard !paused else { return false }
            paused = true
            closed.store(true, ordering: .sequentiallyConsistent)
            return true
        }
    }

    /// Opens the gate: parked vCPUs go on. Returns false if it was open.
    func open() -> Bool {
        locked {
            guard paused else { return false }
            paused = false
            closed.store(false, ordering: .sequentiallyConsistent)
            pthread_cond_broadcast(condition)
            return true
        }
    }

    /// The run ended: nobody parks any more and parked vCPUs leave.
    func release() {
        locked {
            released = true
            pthread_cond_broadcast(condition)
        }
    }

    /// A vCPU thread ended (it will never park).
    func threadEnded() {
        locked {
            ended += 1
            pthread_cond_broadcast(condition)
        }
    }

    /// Called by a vCPU thread at its safe point: waits while the gate is closed and the run
    /// goes on.
    func park() {
        locked {
            parked += 1
            pthread_cond_broadcast(condition)
            while paused && !released { pthread_cond_wait(condition, mutex) }
            parked -= 1
        }
    }

    /// Waits until `threads` vCPU threads are parked or ended, the run ended, or the gate was
    /// opened again. True when every thread stands at the gate; false after `timeoutMs`.
    func waitUntilParked(threads: Int, timeoutMs: Int) -> Bool {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        deadline.tv_sec += timeoutMs / 1000
        deadline.tv_nsec += (timeoutMs % 1000) * 1_000_000
        if deadline.tv_nsec >= 1_000_000_000 {
            deadline.tv_sec += 1
            deadline.tv_nsec -= 1_000_000_000
        }
        return locked {
            while paused && !released && parked + ended < threads {
                if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT { return false }
            }
            return parked + ended >= threads || released
        }
    }
}
