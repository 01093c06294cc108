import CDeviceModelShims
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A fixed set of named threads that run blocking jobs (file I/O, `fdatasync`) for one
/// device, so that neither vCPU threads nor the device's event loop ever wait for the disk.
///
/// Jobs run in submission order per thread, but with more than one thread they may finish
/// in any order; callers that need ordering submit to a single-thread instance.
public final class WorkerThreads: Sendable {
    public typealias Job = @Sendable () -> Void

    private struct State {
        var jobs: [Job?] = []
        var head = 0
        var shuttingDown = false
        var threads: [pthread_t] = []
    }

    public let name: String
    private let state = Mutex(State())
    // Counts queued jobs plus one wake-up per thread at shutdown; threads sleep on it.
    private let available = DispatchSemaphore(value: 0)

    /// Starts `count` threads named `name` (truncated to 15 characters by the kernel).
    public init(name: String, count: Int) throws(VirtioDeviceError) {
        precondition(count > 0, "a worker pool needs at least one thread")
        self.name = name
        for _ in 0..<count {
            let box = Unmanaged.passRetained(WorkerStart(pool: self)).toOpaque()
            var tid = pthread_t()
            let rc = pthread_create(&tid, nil, { raw in
                let start = Unmanaged<WorkerStart>.fromOpaque(raw!).takeRetainedValue()
                swiftdm_set_thread_name(String(start.pool.name.prefix(15)))
                start.pool.runJobs()
                return nil
            }, box)
            guard rc == 0 else {
                Unmanaged<WorkerStart>.fromOpaque(box).release()
                shutdown()
                throw .host(what: "cannot start worker thread \(name)", errno: rc)
            }
            state.withLock { $0.threads.append(tid) }
        }
    }

    deinit { shutdown() }

    /// Queues `job`. Returns `false` (and drops the job) after ``shutdown()``.
    @discardableResult
    public func submit(_ job: @escaping Job) -> Bool {
        let accepted = state.withLock { s -> Bool in
            guard !s.shuttingDown else { return false }
            s.jobs.append(job)
            return true
        }
        if accepted { available.signal() }
        return accepted
    }

    /// Runs the jobs already queued, then stops and joins the threads. Idempotent; must not
    /// be called from one of the pool's own threads.
    public func shutdown() {
        let threads = state.withLock { s -> [pthread_t] in
            s.shuttingDown = true
            let t = s.threads
            s.threads = []
            return t
        }
        for _ in threads { available.signal() }
        for t in threads { pthread_join(t, nil) }
    }

    private func runJobs() {
        while true {
            available.wait()
            let next: Job?? = state.withLock { s in
                if s.head < s.jobs.count {
                    let job = s.jobs[s.head]
                    s.jobs[s.head] = nil
                    s.head += 1
                    // Compact once the consumed prefix dominates, keeping submit O(1) amortised.
                    if s.head > 64 && s.head * 2 > s.jobs.count {
                        s.jobs.removeFirst(s.head)
                        s.head = 0
                    }
                    return .some(job)
                }
                return s.shuttingDown ? .none : .some(nil)
            }
            switch next {
            case .none: return
            case .some(let job): job?()
            }
        }
    }
}

private final class WorkerStart {
    let pool: WorkerThreads
    init(pool: WorkerThreads) { self.pool = pool }
}
