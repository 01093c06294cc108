import DeviceModel
import HostIO
import Logging
import Virtio

/// The io_uring engine for one virtio-blk queue: requests go straight from the guest's
/// buffers to the ring (`readv`/`writev` on the host slices of its descriptors), all those
/// of one serve pass with one submit, and complete on the queue's own I/O thread, which
/// watches the ring's completion eventfd — no worker thread, no hop back.
///
/// One per queue for the device's lifetime (the ring is set up once, before a seccomp filter
/// could forbid it); each activation's handler attaches its ``ServedQueue``. Every operation
/// in flight is counted with ``VirtqueueRequest/beginAsynchronousIO()``, so a stop waits for
/// the kernel to finish with guest memory; the eventfd watch outlives activations so that
/// reaping goes on while a stop waits.
///
/// Only for memory whose mappings persist (``PersistentlyMappedGuestMemory``): the kernel
/// uses the host slices after the call that produced them returned.
final class UringBlockRequestIO: BlockRequestIO, @unchecked Sendable {
    // SAFETY (@unchecked): `served`, `retryScheduled` and the engine are touched only on the
    // device's I/O thread (serve passes, the completion watch, the retry timer); `watch`
    // only at init and `close()`.
    let engine: UringBlockEngine
    private let logger: Logger
    private let name: String
    private weak var served: ServedQueue?
    private var watch: EventSource?
    private let loop: EventLoop
    private var retryScheduled = false
    private let statistics: BlockStatistics
    /// Each head's read or write in flight, by head (grown on demand): a head is in flight
    /// once at a time, so its object serves request after request.
    private var transfers: [Transfer?] = []

    /// What a read's or write's completion needs. The completion closure captures only this
    /// object, which makes it a closure without a context of its own to allocate.
    private final class Transfer {
        unowned let io: UringBlockRequestIO
        var request: VirtqueueRequest?
        var statusByte: UInt64 = 0
        var offset: UInt64 = 0
        var bytes = 0
        var writethrough = false

        init(io: UringBlockRequestIO) { self.io = io }
    }

    /// Sets up the ring for `backend` and watches its completions on `loop`.
    init(backend: FileBlockBackend, entries: Int, loop: EventLoop, name: String, statistics: BlockStatistics,
         logger: Logger) throws(BlockBackendError) {
        self.statistics = statistics
        engine = try UringBlockEngine(backend: backend, entries: entries)
        self.logger = logger
        self.name = name
        self.loop = loop
        watch = loop.watch(fd: engine.ring.completions.fd, for: .readable) { [weak self] _ in self?.reap() }
    }

    /// Stops watching the ring (before the device lets go of it).
    func close() { watch?.cancel() }

    func start(_ queue: ServedQueue) { served = queue }

    /// Submits the pass's requests, then takes the completions that are already there:
    /// reads the page cache satisfies complete inside the submit call, so they go back to
    /// the driver in this same pass (and the same interrupt), without another loop wake-up.
    func submitBatch() {
        engine.submit()
        engine.reap()
        retryIfStuck()
    }

    /// A submit the kernel refused for lack of resources (`EAGAIN`) leaves requests in the
    /// ring that no completion may come to push: try again shortly.
    private func retryIfStuck() {
        guard engine.needsResubmit, !retryScheduled else { return }
        retryScheduled = true
        loop.schedule(after: .milliseconds(1)) { [weak self] in
            guard let self else { return false }
            retryScheduled = false
            engine.submit()
            retryIfStuck()
            return false
        }
    }

    /// Completions arriving together complete their requests in one batch: at most one
    /// interrupt for the lot.
    private func reap() {
        if let served {
            served.batch { engine.reap() }
        } else {
            engine.reap()
        }
        retryIfStuck()
    }

    /// The status for `result`, with a log line for a failure (the guest sees only IOERR).
    private func status(_ result: Result<Void, BlockBackendError>, _ request: VirtqueueRequest) -> BlockStatus {
        switch result {
        case .success: return .ok
        case .failure(let error):
            logger.warning("\(name) head \(request.head): \(error): VIRTIO_BLK_S_IOERR")
            return .ioError
        }
    }

    /// The host slices of `data`, kept beyond the call: valid because the memory's mappings
    /// persist while the request (which holds the memory) lives.
    private func slices(_ request: VirtqueueRequest, _ data: GuestBufferRun) -> [UnsafeMutableRawBufferPointer]? {
        try? request.withHostSlices(of: data) { $0 }
    }

    /// `request`'s transfer record, filled in. I/O thread.
    private func transfer(_ request: VirtqueueRequest, _ statusByte: UInt64, offset: UInt64, bytes: Int,
                          writethrough: Bool = false) -> Transfer {
        let head = Int(request.head)
        if head >= transfers.count { transfers.append(contentsOf: repeatElement(nil, count: head + 1 - transfers.count)) }
        let t = transfers[head] ?? Transfer(io: self)
        transfers[head] = t
        t.request = request
        t.statusByte = statusByte
        t.offset = offset
        t.bytes = bytes
        t.writethrough = writethrough
        return t
    }

    func read(_ request: VirtqueueRequest, status statusByte: UInt64, data: GuestBufferRun, offset: UInt64, length: Int) {
        guard let slices = slices(request, data) else { return BlockQueueHandler.complete(request, statusByte, .ioError) }
        request.beginAsynchronousIO()
        let t = transfer(request, statusByte, offset: offset, bytes: length)
        engine.read(into: slices, at: offset) { [t] result in t.io.readDone(t, result) }
    }

    private func readDone(_ t: Transfer, _ result: Result<Void, BlockBackendError>) {
        guard let request = t.request else { return }
        t.request = nil
        account(.read, bytes: UInt64(t.bytes), offset: t.offset, result)
        let value = status(result, request)
        BlockQueueHandler.complete(request, t.statusByte, value, filled: value == .ok ? t.bytes : 0)
        request.endAsynchronousIO()
    }

    func write(_ request: VirtqueueRequest, status statusByte: UInt64, data: GuestBufferRun, offset: UInt64, writethrough: Bool) {
        guard let slices = slices(request, data) else { return BlockQueueHandler.complete(request, statusByte, .ioError) }
        request.beginAsynchronousIO()
        let t = transfer(request, statusByte, offset: offset, bytes: data.byteCount, writethrough: writethrough)
        engine.write(from: slices, at: offset) { [t] result in t.io.writeDone(t, result) }
    }

    private func writeDone(_ t: Transfer, _ result: Result<Void, BlockBackendError>) {
        // Acknowledged only once on the image (and, without FLUSH negotiated, synced).
        if case .success = result, t.writethrough {
            engine.flush { [t] result in t.io.writeFinished(t, result) }
        } else {
            writeFinished(t, result)
        }
    }

    private func writeFinished(_ t: Transfer, _ result: Result<Void, BlockBackendError>) {
        guard let request = t.request else { return }
        t.request = nil
        account(.write, bytes: UInt64(t.bytes), offset: t.offset, result)
        finish(request, t.statusByte, result)
    }

    func flush(_ request: VirtqueueRequest, status statusByte: UInt64) {
        request.beginAsynchronousIO()
        engine.flush { [self] result in
            account(.flush, bytes: 0, offset: 0, result)
            finish(request, statusByte, result)
        }
    }

    func zero(_ request: VirtqueueRequest, status statusByte: UInt64, segments: [BlockQueueHandler.BlockSegment], discard: Bool,
              writethrough: Bool) {
        request.beginAsynchronousIO()
        // All segments at once; the request completes when the last one did, with the
        // first failure if any.
        var remaining = segments.count
        var failure: BlockBackendError?
        let bytes = segments.reduce(0) { $0 + $1.length }
        let segmentDone: UringBlockEngine.Completion = { [self] result in
            if case .failure(let e) = result, failure == nil { failure = e }
            remaining -= 1
            guard remaining == 0 else { return }
            if let failure {
                account(.unmap, bytes: bytes, offset: 0, .failure(failure))
                return finish(request, statusByte, .failure(failure))
            }
            if writethrough && !discard {
                engine.flush { [self] result in
                    account(.unmap, bytes: bytes, offset: 0, result)
                    finish(request, statusByte, result)
                }
            } else {
                account(.unmap, bytes: bytes, offset: 0, .success(()))
                finish(request, statusByte, .success(()))
            }
        }
        for s in segments {
            if discard {
                engine.discard(offset: s.offset, length: s.length, segmentDone)
            } else {
                engine.writeZeroes(offset: s.offset, length: s.length, mayUnmap: s.unmap, segmentDone)
            }
        }
    }

    private func account(_ op: BlockStatistics.Operation, bytes: UInt64, offset: UInt64, _ result: Result<Void, BlockBackendError>) {
        switch result {
        case .success: statistics.completed(op, bytes: bytes, offset: offset)
        case .failure(let error): statistics.completed(op, bytes: bytes, offset: offset, failure: "\(error)")
        }
    }

    private func finish(_ request: VirtqueueRequest, _ statusByte: UInt64, _ result: Result<Void, BlockBackendError>) {
        BlockQueueHandler.complete(request, statusByte, status(result, request))
        request.endAsynchronousIO()
    }
}
