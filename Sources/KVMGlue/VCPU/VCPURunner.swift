import CDeviceModelShims
import CKVM
import DeviceModel
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Why a run ended without a fault.
public enum VMStopReason: Sendable, Hashable, CustomStringConvertible {
    /// The guest powered the machine off (ACPI S5, `KVM_SYSTEM_EVENT_SHUTDOWN`).
    case powerOff
    /// The guest asked for a reset (i8042 pulse, `KVM_SYSTEM_EVENT_RESET`).
    case reset
    /// A test or debug device in the guest asked to exit with `status`.
    case guestExit(status: Int32)
    /// The guest kernel reported a panic (pvpanic).
    case guestPanic
    /// The host stopped the VM (signal, timeout, error elsewhere).
    case host

    public var description: String {
        switch self {
        case .powerOff: "guest powered off"
        case .reset: "guest requested a reset"
        case .guestExit(let s): "guest exited with status \(s)"
        case .guestPanic: "guest kernel panicked"
        case .host: "stopped by the host"
        }
    }
}

/// How a run ended: stopped on request, or a vCPU failed.
public enum VMRunResult: Sendable, Equatable, CustomStringConvertible {
    case stopped(VMStopReason)
    case failed(VCPUError)

    public var description: String {
        switch self {
        case .stopped(let r): "\(r)"
        case .failed(let e): "\(e)"
        }
    }
}

/// Counts of vCPU exits by kind, summed over all vCPUs.
public struct VCPUExitCounts: Sendable, Hashable {
    public var portIO: UInt64
    public var mmio: UInt64
    /// `KVM_RUN` returns with `EINTR` (kicks) and other non-I/O exits.
    public var other: UInt64
}

/// Runs a VM's vCPUs, one explicit thread each, until something stops them.
///
/// Each thread loops on `KVM_RUN`. Port-I/O and MMIO exits become ``DeviceModel/IORequest``s
/// for the ``IORequestSink``; every other exit ends the run with a ``VCPUError`` carrying the
/// registers. ``stop(_:)`` may be called from any thread, including a device handler running on
/// a vCPU thread: it sets `immediate_exit` on every vCPU and kicks each thread with `SIGUSR1`,
/// whose (empty) handler makes a blocked `KVM_RUN` return `EINTR`. The first stop reason or
/// failure wins.
///
/// ``pause()`` and ``resume()`` (QMP `stop`/`cont`) use the same kick: a paused vCPU thread
/// waits at a ``VCPUPauseGate`` between two `KVM_RUN`s, with its last exit fully handled and,
/// for an I/O exit, completed by KVM (one more `KVM_RUN` with `immediate_exit` set), so that its
/// registers can be saved.
public final class VCPURunner: Sendable {
    /// The signal used to kick vCPU threads out of `KVM_RUN` (QEMU's `SIG_IPI` choice).
    public static let kickSignal = SIGUSR1

    public let vcpus: [KVMVCPU]
    public let sink: any IORequestSink
    private let logger: Logger

    private let outcome = Mutex<VMRunResult?>(nil)
    private let stopping = Atomic<Bool>(false)
    private let done: EventNotifier
    private let threads = Mutex<[pthread_t]>([])
    private let joined = Mutex<Bool>(false)
    private let portExits = Atomic<UInt64>(0)
    private let mmioExits = Atomic<UInt64>(0)
    private let otherExits = Atomic<UInt64>(0)
    private let rejectedRequests = Atomic<UInt64>(0)
    private let gate = VCPUPauseGate()
    /// How long ``pause()`` waits for the vCPUs to reach the gate: a vCPU thread stuck in a
    /// device handler longer than this is a bug worth reporting rather than waiting on.
    public static let pauseTimeoutMs = 10_000

    /// Prepares to run `vcpus`, handing their I/O to `sink` (usually the machine's
    /// ``DeviceModel/IODispatcher``).
    public init(vcpus: [KVMVCPU], sink: any IORequestSink, logger: Logger = Logger(label: "swiftdm.kvm")) throws(KVMError) {
        self.vcpus = vcpus
        self.sink = sink
        self.logger = logger
        do {
            self.done = try EventNotifier()
        } catch {
            throw .ioctlFailed("eventfd for run completion", errno: {
                if case .createFailed(let e) = error { return e }
                return EIO
            }())
        }
    }

    /// Exits seen so far.
    public var exitCounts: VCPUExitCounts {
        VCPUExitCounts(
            portIO: portExits.load(ordering: .relaxed), mmio: mmioExits.load(ordering: .relaxed),
            other: otherExits.load(ordering: .relaxed))
    }

    /// Requests the sink rejected as malformed (completed as unclaimed accesses).
    public var rejectedRequestCount: UInt64 { rejectedRequests.load(ordering: .relaxed) }

    /// The result, once the run has ended.
    public var result: VMRunResult? { outcome.withLock { $0 } }

    /// Starts one thread per vCPU (named `vcpuN`).
    public func start() throws(KVMError) {
        guard ckvm_install_kick_handler(Self.kickSignal) == 0 else { throw .ioctlFailed("sigaction(SIGUSR1)", errno: errno) }
        let failure: KVMError? = threads.withLock { list in
            for vcpu in vcpus {
                let box = Unmanaged.passRetained(ThreadContext(runner: self, vcpu: vcpu)).toOpaque()
                var tid = pthread_t()
                let rc = pthread_create(&tid, nil, { raw in
                    let context = Unmanaged<ThreadContext>.fromOpaque(raw!).takeRetainedValue()
                    context.runner.threadMain(context.vcpu)
                    return nil
                }, box)
                guard rc == 0 else {
                    Unmanaged<ThreadContext>.fromOpaque(box).release()
                    return .threadCreateFailed(vcpu: vcpu.id, errno: rc)
                }
                list.append(tid)
            }
            return nil
        }
        if let failure {
            // Stop (and later join) the threads that did start.
            finish(.stopped(.host))
            throw failure
        }
    }

    /// Ends the run with `reason` (unless it already ended) and kicks every vCPU. Does not wait.
    public func stop(_ reason: VMStopReason = .host) {
        finish(.stopped(reason))
    }

    /// Pauses every vCPU at a safe point: each leaves `KVM_RUN` (the kick) and waits between
    /// two runs until ``resume()``. Returns once all of them wait (or the run ended): the
    /// guest executes nothing more until resumed. Safe from any thread but a vCPU's.
    /// - Returns: false if the run had already ended or the vCPUs did not stop within
    ///   ``pauseTimeoutMs`` (they still stop when they can).
    @discardableResult
    public func pause() -> Bool {
        guard !stopping.load(ordering: .acquiring) else { return false }
        _ = gate.close()
        // The gate is closed before the kick: a vCPU past its check meets immediate_exit.
        for v in vcpus { v.requestImmediateExit(true) }
        for t in threads.withLock({ $0 }) { pthread_kill(t, Self.kickSignal) }
        let parked = gate.waitUntilParked(threads: vcpus.count, timeoutMs: Self.pauseTimeoutMs)
        return parked && !stopping.load(ordering: .acquiring)
    }

    /// Lets paused vCPUs run again. Does nothing when they were not paused.
    public func resume() {
        // While they still wait at the gate, so that none enters KVM_RUN with the flag set;
        // a stop racing with this sets it again and they see `stopping` first anyway.
        if !stopping.load(ordering: .acquiring) {
            for v in vcpus { v.requestImmediateExit(false) }
        }
        _ = gate.open()
    }

    /// True while the vCPUs are asked to stay paused.
    public var isPaused: Bool { gate.isClosed }

    /// Blocks until the run ends, then joins the vCPU threads and returns the result.
    /// With `timeoutMs`, returns `nil` if the run is still going after that long.
    /// Must not be called from a vCPU thread.
    public func wait(timeoutMs: Int? = nil) -> VMRunResult? {
        var deadline: timespec?
        if let timeoutMs {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            deadline = Self.adding(ms: timeoutMs, to: now)
        }
        while true {
            if let r = result {
                joinThreads()
                return r
            }
            var waitMs: Int32 = -1
            if let deadline {
                var now = timespec()
                clock_gettime(CLOCK_MONOTONIC, &now)
                let left = (deadline.tv_sec - now.tv_sec) * 1000 + (deadline.tv_nsec - now.tv_nsec) / 1_000_000
                if left <= 0 { return nil }
                waitMs = Int32(clamping: left)
            }
            // The eventfd is only a wake-up; `result` is the truth, checked again above.
            _ = done.wait(timeoutMs: waitMs)
        }
    }

    private static func adding(ms: Int, to t: timespec) -> timespec {
        var r = t
        r.tv_sec += ms / 1000
        r.tv_nsec += (ms % 1000) * 1_000_000
        if r.tv_nsec >= 1_000_000_000 {
            r.tv_sec += 1
            r.tv_nsec -= 1_000_000_000
        }
        return r
    }

    private func joinThreads() {
        let list: [pthread_t]? = joined.withLock { j in
            if j { return nil }
            j = true
            return threads.withLock { $0 }
        }
        for t in list ?? [] { pthread_join(t, nil) }
    }

    /// Records the first outcome and makes every vCPU leave `KVM_RUN`.
    private func finish(_ result: VMRunResult) {
        let first = outcome.withLock { (o: inout VMRunResult?) -> Bool in
            guard o == nil else { return false }
            o = result
            return true
        }
        guard first else { return }
        stopping.store(true, ordering: .sequentiallyConsistent)
        // immediate_exit catches a vCPU between its stop check and KVM_RUN; the signal one inside it.
        for v in vcpus { v.requestImmediateExit(true) }
        for t in threads.withLock({ $0 }) { pthread_kill(t, Self.kickSignal) }
        gate.release()
        try? done.signal()
    }

    // MARK: - The vCPU thread

    private final class ThreadContext {
        let runner: VCPURunner
        let vcpu: KVMVCPU
        init(runner: VCPURunner, vcpu: KVMVCPU) {
            self.runner = runner
            self.vcpu = vcpu
        }
    }

    private func threadMain(_ vcpu: KVMVCPU) {
        swiftdm_set_thread_name("vcpu\(vcpu.id)")
        _ = ckvm_unblock_signal(Self.kickSignal)
        if let error = runLoop(vcpu) { finish(.failed(error)) }
        gate.threadEnded()
    }

    /// Runs until stopped (returns nil) or until an exit ends the run (returns the error).
    private func runLoop(_ vcpu: KVMVCPU) -> VCPUError? {
        let run = vcpu.run
        let base = UnsafeMutableRawPointer(run)
        // An I/O exit is complete only once KVM_RUN is entered again: KVM then stores an `in`'s
        // value and moves RIP past the instruction. Until then the registers are not the guest's
        // (KVM's api.rst, "KVM_RUN"). A vCPU parks only after that re-entry, made with
        // immediate_exit set so that KVM finishes the instruction and returns EINTR without
        // running further guest code: a paused vCPU's registers are then safe to save.
        var ioPending = false
        while !stopping.load(ordering: .acquiring) {
            if gate.isClosed {
                if ioPending {
                    vcpu.requestImmediateExit(true)
                } else {
                    gate.park()
                    continue
                }
            }
            if ckvm_run(vcpu.fd) < 0 {
                let e = errno
                if e == EINTR || e == EAGAIN {
                    otherExits.add(1, ordering: .relaxed)
                    ioPending = false
                    // The flag may be this thread's own (above) and outlive the pause; clearing it
                    // is safe because the loop checks `stopping` and the gate again before KVM_RUN,
                    // and stop and pause set those before they set the flag.
                    vcpu.requestImmediateExit(false)
                    continue
                }
                return .runFailed(vcpu: vcpu.id, errno: e)
            }
            let reason = Int32(bitPattern: ckvm_run_exit_reason(run))
            ioPending = reason == KVM_EXIT_IO || reason == KVM_EXIT_MMIO
            switch reason {
            case KVM_EXIT_IO:
                portExits.add(1, ordering: .relaxed)
                let size = Int(ckvm_run_io_size(run))
                let count = ckvm_run_io_count(run)
                let offset = Int(truncatingIfNeeded: ckvm_run_io_data_offset(run))
                // The kernel places the data inside the mapping; check anyway rather than trust an offset.
                guard size == 1 || size == 2 || size == 4, count >= 1, offset >= MemoryLayout<kvm_run>.size,
                    offset + Int(count) * size <= vcpu.runSize
                else {
                    return .unhandledExit(vcpu: vcpu.id, reason: UInt32(KVM_EXIT_IO), registers: try? vcpu.registers())
                }
                let data = base + offset
                var request = VCPUExitDecoder.portRequest(
                    isWrite: ckvm_run_io_direction(run) == ckvm_io_direction_out(), size: size, port: ckvm_run_io_port(run),
                    count: count, data: data)
                if let error = perform(&request, vcpu: vcpu) { return error }
                if count == 1 { VCPUExitDecoder.completePortRead(request, data: data) }

            case KVM_EXIT_MMIO:
                mmioExits.add(1, ordering: .relaxed)
                let data = UnsafeMutableRawPointer(ckvm_run_mmio_data(run)!)
                let address = ckvm_run_mmio_phys_addr(run)
                let length = Int(ckvm_run_mmio_len(run))
                let isWrite = ckvm_run_mmio_is_write(run) != 0
                if length == 1 || length == 2 || length == 4 || length == 8 {
                    var request = IORequest(
                        space: .memory, address: address, size: length, direction: isWrite ? .write : .read,
                        data: .value(isWrite ? VCPUExitDecoder.loadLE(data, size: length) : 0))
                    if let error = perform(&request, vcpu: vcpu) { return error }
                    if !isWrite, case .value(let v) = request.data { VCPUExitDecoder.storeLE(v, size: length, to: data) }
                } else {
                    var requests = VCPUExitDecoder.mmioRequests(address: address, length: length, isWrite: isWrite, data: data)
                    for i in requests.indices {
                        if let error = perform(&requests[i], vcpu: vcpu) { return error }
                    }
                    VCPUExitDecoder.completeMMIORead(requests, data: data)
                }

            case KVM_EXIT_INTR:
                otherExits.add(1, ordering: .relaxed)

            case KVM_EXIT_HLT:
                return .halted(vcpu: vcpu.id, registers: try? vcpu.registers())

            case KVM_EXIT_SHUTDOWN:
                return .shutdown(vcpu: vcpu.id, registers: try? vcpu.registers())

            case KVM_EXIT_FAIL_ENTRY:
                return .entryFailed(vcpu: vcpu.id, hardwareReason: ckvm_run_fail_entry_reason(run), registers: try? vcpu.registers())

            case KVM_EXIT_INTERNAL_ERROR:
                let n = min(ckvm_run_internal_ndata(run), 16)
                let words = (0..<n).map { ckvm_run_internal_data(run, $0) }
                return .internalError(vcpu: vcpu.id, suberror: ckvm_run_internal_suberror(run), data: words, registers: try? vcpu.registers())

            case KVM_EXIT_SYSTEM_EVENT:
                switch Int32(ckvm_run_system_event_type(run)) {
                case KVM_SYSTEM_EVENT_SHUTDOWN:
                    finish(.stopped(.powerOff))
                case KVM_SYSTEM_EVENT_RESET:
                    finish(.stopped(.reset))
                default:
                    return .systemEvent(vcpu: vcpu.id, type: ckvm_run_system_event_type(run), registers: try? vcpu.registers())
                }

            case let reason:
                return .unhandledExit(vcpu: vcpu.id, reason: UInt32(bitPattern: reason), registers: try? vcpu.registers())
            }
        }
        return nil
    }

    /// Hands one request to the sink. Rejected requests complete as unclaimed accesses.
    private func perform(_ request: inout IORequest, vcpu: KVMVCPU) -> VCPUError? {
        do {
            try sink.handle(&request, vcpu: vcpu.id)
            return nil
        } catch {
            switch error {
            case .rejected(let why):
                rejectedRequests.add(1, ordering: .relaxed)
                logger.debug("vCPU \(vcpu.id): \(request) rejected: \(why)")
                if request.direction == .read, case .value = request.data { request.data = .value(request.sizeMask) }
                return nil
            case .failed(let why):
                return .ioFailed(vcpu: vcpu.id, request: "\(request)", reason: why)
            }
        }
    }
}
