import DeviceModel
import DeviceModelTesting
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` on a new OS thread (not a Swift concurrency pool thread) and returns a join.
func spawnThread(_ body: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
    final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
    let raw = Unmanaged.passRetained(Box(body)).toOpaque()
    var tid = pthread_t()
    let rc = pthread_create(&tid, nil, { raw in
        Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
        return nil
    }, raw)
    precondition(rc == 0, "pthread_create failed: \(rc)")
    let thread = tid
    return { pthread_join(thread, nil) }
}

/// The kernel thread id of the calling thread, from /proc/thread-self -> "<pid>/task/<tid>".
func currentKernelThreadID() -> Int32 {
    var buffer = [CChar](repeating: 0, count: 64)
    let n = readlink("/proc/thread-self", &buffer, buffer.count - 1)
    guard n > 0 else { return -1 }
    let link = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return Int32(link.split(separator: "/").last ?? "") ?? -1
}

/// Signals `recorder` when deallocated: shows a closure was released, not leaked.
final class DeallocationProbe: Sendable {
    let recorder: EventRecorder<String>
    let name: String
    init(_ name: String, _ recorder: EventRecorder<String>) {
        self.name = name
        self.recorder = recorder
    }
    deinit { recorder.record(name) }
}

@Suite("EventLoop across threads")
struct EventLoopTests {
    @Test func executeFromAnotherThreadRunsOnTheLoopThread() throws {
        let loop = try EventLoop(name: "exec-test")
        defer { loop.shutdown() }
        let loopThread = loop.sync { pthread_self() }
        #expect(!loop.isCurrent)

        let seen = EventRecorder<(thread: pthread_t, isCurrent: Bool, submitter: pthread_t)>()
        let join = spawnThread {
            let submitter = pthread_self()
            loop.execute { seen.record((pthread_self(), loop.isCurrent, submitter)) }
        }
        join()
        let record = try #require(seen.next(timeout: patience))
        #expect(pthread_equal(record.thread, loopThread) != 0)
        #expect(pthread_equal(record.thread, record.submitter) == 0)
        #expect(record.isCurrent)
    }

    @Test func submissionsFromOneThreadRunInOrder() throws {
        let loop = try EventLoop(name: "order-test")
        defer { loop.shutdown() }
        let order = EventRecorder<Int>()
        for i in 0..<200 { loop.execute { order.record(i) } }
        #expect(order.wait(forCount: 200, timeout: patience))
        #expect(order.all == Array(0..<200))
    }

    @Test func syncReturnsTheResultAndRunsInlineOnTheLoopThread() throws {
        let loop = try EventLoop(name: "sync-test")
        defer { loop.shutdown() }
        #expect(loop.sync { 6 * 7 } == 42)
        // A sync from a callback would deadlock if it queued; it runs inline instead.
        let nested = loop.sync { loop.sync { loop.isCurrent } }
        #expect(nested)
    }

    @Test func fdWatchFiresWhenAnotherThreadSignals() throws {
        let loop = try EventLoop(name: "watch-test")
        defer { loop.shutdown() }
        let notifier = try EventNotifier()
        let loopThread = loop.sync { pthread_self() }
        let fired = EventRecorder<(count: UInt64, onLoop: Bool)>()
        let watch = loop.watch(fd: notifier.fd) { conditions in
            #expect(conditions.contains(.readable))
            fired.record((notifier.drain(), pthread_equal(pthread_self(), loopThread) != 0))
        }
        defer { watch.cancel() }

        for round in 1...3 {
            let join = spawnThread { try? notifier.signal() }
            join()
            let event = try #require(fired.next(timeout: patience), "round \(round)")
            #expect(event.count == 1)
            #expect(event.onLoop)
        }
    }

    @Test func aWatchWhoseSourceIsDiscardedKeepsFiring() throws {
        let loop = try EventLoop(name: "discard-test")
        defer { loop.shutdown() }
        let notifier = try EventNotifier()
        let fired = EventRecorder<UInt64>()
        loop.watch(fd: notifier.fd) { _ in fired.record(notifier.drain()) }  // result dropped
        try notifier.signal()
        #expect(fired.next(timeout: patience) == 1)
        try notifier.signal()
        #expect(fired.next(timeout: patience) == 1)
    }

    @Test func oneShotAndRepeatingTimersFire() throws {
        let loop = try EventLoop(name: "timer-test")
        defer { loop.shutdown() }
        let once = EventRecorder<Int>()
        let repeated = EventRecorder<Int>()
        let ticks = Mutex(0)
        loop.schedule(after: .milliseconds(5)) {
            once.record(1)
            return false
        }
        loop.schedule(after: .milliseconds(2)) {
            let n = ticks.withLock { t in
                t += 1
                return t
            }
            repeated.record(n)
            return n < 3
        }
        #expect(once.wait(forCount: 1, timeout: patience))
        #expect(repeated.wait(forCount: 3, timeout: patience))
        // A later timer as a barrier: by the time it fires, a still-armed one-shot or a
        // fourth tick would have run.
        let barrier = EventRecorder<Int>()
        loop.schedule(after: .milliseconds(50)) {
            barrier.record(0)
            return false
        }
        #expect(barrier.wait(forCount: 1, timeout: patience))
        #expect(once.all == [1])
        #expect(repeated.all == [1, 2, 3])
    }

    @Test func cancelOnTheLoopThreadStopsCallbacksAtOnce() throws {
        let loop = try EventLoop(name: "cancel-test")
        defer { loop.shutdown() }
        let notifier = try EventNotifier()
        let calls = EventRecorder<Int>()
        let slot = Mutex<EventSource?>(nil)
        // The handler never drains: a level-triggered watch that stayed armed would run
        // again on every iteration.
        let watch = loop.watch(fd: notifier.fd) { _ in
            calls.record(1)
            slot.withLock { $0?.cancel() }
        }
        slot.withLock { $0 = watch }
        try notifier.signal()
        #expect(calls.wait(forCount: 1, timeout: patience))
        try barrier(loop)
        #expect(calls.count == 1)
        watch.cancel()  // idempotent
    }

    @Test func cancelFromAnotherThreadStopsCallbacks() throws {
        let loop = try EventLoop(name: "xcancel-test")
        defer { loop.shutdown() }
        let notifier = try EventNotifier()
        let calls = Atomic<Int>(0)
        let watch = loop.watch(fd: notifier.fd) { _ in calls.add(1, ordering: .relaxed) }
        try notifier.signal()
        // Without draining, the watch keeps firing until cancelled.
        let firing = EventRecorder<Int>()
        loop.execute { firing.record(0) }
        #expect(firing.wait(forCount: 1, timeout: patience))
        watch.cancel()
        // Any callback that was running when cancel() returned has finished after this.
        loop.sync {}
        let settled = calls.load(ordering: .relaxed)
        #expect(settled >= 1)
        try barrier(loop)
        let final = calls.load(ordering: .relaxed)
        #expect(final == settled)
    }

    @Test func cancelledTimerNeverFires() throws {
        let loop = try EventLoop(name: "tcancel-test")
        defer { loop.shutdown() }
        let fired = Atomic<Bool>(false)
        let timer = loop.schedule(after: .milliseconds(20)) {
            fired.store(true, ordering: .relaxed)
            return false
        }
        timer.cancel()
        try barrier(loop, after: .milliseconds(80))
        let didFire = fired.load(ordering: .relaxed)
        #expect(!didFire)
    }

    @Test func shutdownRunsAcceptedWorkThenJoinsTheThread() throws {
        let loop = try EventLoop(name: "shutdown-test")
        let threadID = loop.sync { currentKernelThreadID() }
        #expect(threadID > 0)
        #expect(access("/proc/self/task/\(threadID)", F_OK) == 0)

        let ran = EventRecorder<Int>()
        for i in 0..<50 { loop.execute { ran.record(i) } }
        loop.shutdown()
        // Everything submitted before shutdown ran, in order, and the thread is gone.
        #expect(ran.all == Array(0..<50))
        #expect(access("/proc/self/task/\(threadID)", F_OK) != 0)

        // Work after shutdown is discarded and released, not leaked or run.
        let released = EventRecorder<String>()
        do {
            let probe = DeallocationProbe("late", released)
            loop.execute { _ = probe; ran.record(-1) }
        }
        #expect(released.all == ["late"])
        #expect(ran.count == 50)
        loop.shutdown()  // idempotent
    }

    @Test func shutdownFromTheLoopThreadDoesNotDeadlock() throws {
        let loop = try EventLoop(name: "self-shutdown")
        let threadID = loop.sync { currentKernelThreadID() }
        let returned = EventRecorder<Bool>()
        loop.execute {
            loop.shutdown()
            returned.record(true)
        }
        #expect(returned.next(timeout: patience) == true)
        // The loop then stops and its detached thread exits. Nothing signals that exit, so
        // look for it in /proc (bounded by `patience`; not a timing assertion).
        var alive = true
        for _ in 0..<2000 {
            alive = access("/proc/self/task/\(threadID)", F_OK) == 0
            if !alive { break }
            usleep(10_000)
        }
        #expect(!alive)
        loop.shutdown()
    }

    @Test func aLoopWithoutItsOwnThreadRunsOnTheCaller() throws {
        let loop = try EventLoop(name: "manual", startThread: false)
        let ran = EventRecorder<Bool>()
        loop.execute { ran.record(loop.isCurrent) }  // queued until run()
        let finished = EventRecorder<Bool>()
        let join = spawnThread {
            loop.run()
            finished.record(true)
        }
        #expect(ran.next(timeout: patience) == true)
        loop.shutdown()
        join()
        #expect(finished.all == [true])
    }

    @Test func eventNotifierWaitWakesAcrossThreadsAndTimesOut() throws {
        let notifier = try EventNotifier()
        #expect(notifier.drain() == 0)
        #expect(notifier.wait(timeoutMs: 1) == 0)
        let join = spawnThread {
            try? notifier.signal()
            try? notifier.signal()
        }
        join()
        #expect(notifier.wait(timeoutMs: -1) == 2)
        let waiter = EventRecorder<UInt64>()
        let joinWaiter = spawnThread { waiter.record(notifier.wait(timeoutMs: 20_000)) }
        try notifier.signal()
        joinWaiter()
        #expect(waiter.all == [1])
    }

    /// Waits until a timer `after` from now has fired on `loop`: every source that was ready
    /// before it (a level-triggered fd, a shorter timer) has had its chance to run.
    private func barrier(_ loop: EventLoop, after delay: Duration = .milliseconds(30)) throws {
        let fired = EventRecorder<Int>()
        loop.schedule(after: delay) {
            fired.record(0)
            return false
        }
        #expect(fired.wait(forCount: 1, timeout: patience))
    }
}
