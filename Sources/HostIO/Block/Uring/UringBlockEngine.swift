import CURing
#if canImport(Glibc)
import Glibc
#endif

/// Block I/O on a ``FileBlockBackend``'s image through one ``IOURing``, completing on the
/// thread that reaps the ring (the queue's I/O thread watching ``completions``), so no
/// worker thread sits between the guest's request and the kernel.
///
/// Callers queue operations (``read(into:at:_:)``, ``write(from:at:_:)``, ``flush(_:)``,
/// ``discard(offset:length:_:)``, ``writeZeroes(offset:length:mayUnmap:_:)``), then call
/// ``submit()`` once for the batch (one `io_uring_enter` per kick). When ``completions``
/// is readable they call ``reap()``, which runs each operation's completion and submits the
/// follow-ups. The engine finishes each operation completely or fails it: short transfers
/// continue where they stopped, `-EAGAIN`/`-EINTR` are resubmitted, operations beyond the
/// ring's capacity wait for slots, and the fallbacks ``FileBlockBackend`` applies to
/// `fallocate` apply here too.
///
/// Buffers passed in must stay valid until the completion ran (guest memory whose mappings
/// persist, or a buffer the caller owns). Not thread-safe: one thread queues and reaps.
public final class UringBlockEngine: @unchecked Sendable {
    // SAFETY (@unchecked): all state is touched only on the owning I/O thread; Sendable
    // only so the device can create it on another thread and hand it over.
    /// Called exactly once per operation, on the reaping thread.
    public typealias Completion = (Result<Void, BlockBackendError>) -> Void

    /// The image.
    public let backend: FileBlockBackend
    /// The ring (its ``IOURing/completions`` eventfd is what the I/O thread watches).
    public let ring: IOURing
    /// Operations the kernel holds (submitted or prepared, not yet reaped).
    public private(set) var inFlight = 0
    /// Operations queued, in flight or waiting for a slot: zero when the engine is idle.
    public var outstanding: Int { inFlight + waiting.count - waitingHead }
    /// True when the kernel did not take everything the last ``submit()`` handed it (it was
    /// short of resources): the caller should call ``submit()`` again shortly, since no
    /// completion may come to trigger it.
    public var needsResubmit: Bool { ring.hasUnsubmittedEntries }

    private var slots: [Operation?] = []
    /// Each slot's iovec array, kept from operation to operation (grown when a longer chain
    /// needs it), so queueing a transfer allocates nothing once the slots are warm.
    private var slotIOVecs: [UnsafeMutableBufferPointer<iovec>] = []
    private var freeSlots: [Int] = []
    private var waiting: [Int] = []
    private var waitingHead = 0

    /// <linux/falloc.h>
    private static let keepSize: Int32 = 0x01, punchHole: Int32 = 0x02, zeroRange: Int32 = 0x10
    /// Linux's `UIO_MAXIOV`: the most iovecs one `readv`/`writev` takes; longer chains are
    /// sent in pieces, each continuing where the previous one stopped.
    private static let maxIOVecs = 1024
    /// Zeroes for write-zeroes where `fallocate` cannot (1 MiB, aligned for `O_DIRECT`).
    private static let zeroChunk = 1 << 20
    private lazy var zeroes = BounceBuffer(length: Self.zeroChunk, alignment: 4096)

    private enum Kind {
        case read, write, fsync
        /// `fallocate` trying `modes` in order; a mode the file system does not support
        /// moves on to the next one; when none is left, `thenWriteZeroes` decides between
        /// writing zero bytes (write-zeroes) and success (discard is only a hint, §5.2.6.2).
        case fallocate(modes: ArraySlice<Int32>, thenWriteZeroes: Bool)
    }

    private struct Operation {
        var kind: Kind
        /// The part of the slot's iovec array in use, or (``ownsIOVecs``) an array of its own.
        var iovecs: UnsafeMutableBufferPointer<iovec>
        /// True for iovecs allocated for this operation alone (zero-byte writes), freed with it.
        var ownsIOVecs = false
        var first = 0
        var position: UInt64
        var length: UInt64
        /// Bytes the current submission covers (readv/writev), to tell a short transfer.
        var submitted = 0
        /// For an unaligned `O_DIRECT` read: the guest buffers the bounce buffer is copied to.
        var scatterTo: [UnsafeMutableRawBufferPointer]?
        var bounce: BounceBuffer?
        var completion: Completion
    }

    /// An engine for `backend` with a ring of `entries` submission entries (the queue size
    /// is a good choice: one entry per request the driver can have outstanding).
    public init(backend: FileBlockBackend, entries: Int) throws(BlockBackendError) {
        self.backend = backend
        self.ring = try IOURing(entries: entries)
    }

    deinit {
        // The kernel may still write into buffers of operations in flight: wait for them
        // (their completions are dropped) before the ring and iovecs go away. Entries left
        // in the ring by a failed submit are submitted first, or they would never complete.
        if inFlight > 0 { _ = ring.submit() }
        while inFlight > 0 {
            guard ring.waitForCompletion() == 0 else { break }
            ring.forEachCompletion { tag, _ in
                inFlight -= 1
                if let op = slots[Int(tag)], op.ownsIOVecs { op.iovecs.deallocate() }
            }
        }
        for v in slotIOVecs { v.deallocate() }
    }

    // MARK: Queueing

    /// Fills `buffers` from consecutive image bytes at `offset` (`IORING_OP_READV`). Reading
    /// past the end of the image fails (`EIO`), as ``FileBlockBackend/read(into:at:)`` does.
    public func read(into buffers: [UnsafeMutableRawBufferPointer], at offset: UInt64, _ completion: @escaping Completion) {
        if let direct = backend.directIO, !direct.admits(buffers, at: offset) {
            let bounce = BounceBuffer(length: buffers.reduce(0) { $0 + $1.count }, alignment: direct.bufferAlignment)
            enqueue(Operation(kind: .read, iovecs: .init(start: nil, count: 0), position: offset, length: 0,
                              scatterTo: buffers, bounce: bounce, completion: completion), transferring: [bounce.bytes])
        } else {
            enqueue(Operation(kind: .read, iovecs: .init(start: nil, count: 0), position: offset, length: 0, completion: completion),
                    transferring: buffers)
        }
    }

    /// Writes every byte of `buffers` at `offset` (`IORING_OP_WRITEV`).
    public func write(from buffers: [UnsafeMutableRawBufferPointer], at offset: UInt64, _ completion: @escaping Completion) {
        guard !backend.isReadOnly else { return completion(.failure(.io(operation: "writev", offset: offset, errno: EROFS))) }
        if let direct = backend.directIO, !direct.admits(buffers, at: offset) {
            let bounce = BounceBuffer(length: buffers.reduce(0) { $0 + $1.count }, alignment: direct.bufferAlignment)
            bounce.gather(from: buffers)
            enqueue(Operation(kind: .write, iovecs: .init(start: nil, count: 0), position: offset, length: 0,
                              bounce: bounce, completion: completion), transferring: [bounce.bytes])
        } else {
            enqueue(Operation(kind: .write, iovecs: .init(start: nil, count: 0), position: offset, length: 0, completion: completion),
                    transferring: buffers)
        }
    }

    /// Makes completed writes durable (`IORING_OP_FSYNC` with `IORING_FSYNC_DATASYNC`: the
    /// data and what is needed to read it back, as `fdatasync`).
    public func flush(_ completion: @escaping Completion) {
        enqueue(Operation(kind: .fsync, iovecs: .init(start: nil, count: 0), position: 0, length: 0, completion: completion))
    }

    /// Punches a hole (`IORING_OP_FALLOCATE`); a file system without hole punching keeps
    /// the data, which discard allows.
    public func discard(offset: UInt64, length: UInt64, _ completion: @escaping Completion) {
        guard !backend.isReadOnly else { return completion(.failure(.io(operation: "discard", offset: offset, errno: EROFS))) }
        guard length > 0 else { return completion(.success(())) }
        enqueue(Operation(kind: .fallocate(modes: [Self.punchHole | Self.keepSize], thenWriteZeroes: false),
                          iovecs: .init(start: nil, count: 0), position: offset, length: length, completion: completion))
    }

    /// Makes the range read as zeroes: punching a hole if `mayUnmap`, else zeroing the range
    /// (`IORING_OP_FALLOCATE`), else writing zero bytes.
    public func writeZeroes(offset: UInt64, length: UInt64, mayUnmap: Bool, _ completion: @escaping Completion) {
        guard !backend.isReadOnly else { return completion(.failure(.io(operation: "write zeroes", offset: offset, errno: EROFS))) }
        guard length > 0 else { return completion(.success(())) }
        var modes: [Int32] = [Self.zeroRange | Self.keepSize]
        if mayUnmap { modes.insert(Self.punchHole | Self.keepSize, at: 0) }
        enqueue(Operation(kind: .fallocate(modes: modes[...], thenWriteZeroes: true),
                          iovecs: .init(start: nil, count: 0), position: offset, length: length, completion: completion))
    }

    /// Queues `op` in a free slot; for a transfer, its iovecs (one per non-empty buffer) go
    /// into the slot's own array.
    private func enqueue(_ op: Operation, transferring buffers: [UnsafeMutableRawBufferPointer] = []) {
        var op = op
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
        } else {
            slot = slots.count
            slots.append(nil)
            slotIOVecs.append(.allocate(capacity: Self.initialIOVecs))
        }
        var count = 0
        for b in buffers where b.count > 0 { count += 1 }
        if count > slotIOVecs[slot].count {
            slotIOVecs[slot].deallocate()
            slotIOVecs[slot] = .allocate(capacity: count)
        }
        var i = 0
        for b in buffers where b.count > 0 {
            slotIOVecs[slot][i] = iovec(iov_base: b.baseAddress, iov_len: b.count)
            i += 1
        }
        if case .read = op.kind { op.iovecs = UnsafeMutableBufferPointer(rebasing: slotIOVecs[slot][0..<count]) }
        if case .write = op.kind { op.iovecs = UnsafeMutableBufferPointer(rebasing: slotIOVecs[slot][0..<count]) }
        slots[slot] = op
        waiting.append(slot)
    }

    /// A slot's first iovec array: room for a typical block request's data buffers.
    private static let initialIOVecs = 8

    // MARK: Submitting and reaping

    /// Hands every queued operation the ring has room for to the kernel with one
    /// `io_uring_submit`; the rest wait until completions free entries.
    public func submit() {
        let first = waitingHead
        while waitingHead < waiting.count, inFlight < ring.entries, let sqe = ring.nextEntry() {
            prepare(waiting[waitingHead], sqe)
            waitingHead += 1
            inFlight += 1
        }
        // Indices, not a slice of `waiting`: a slice would share its storage, and emptying
        // the list below would then allocate new storage on every submit.
        let prepared = first..<waitingHead
        guard !prepared.isEmpty || ring.hasUnsubmittedEntries else { return compactWaiting() }
        let rc = ring.submit()
        // -EAGAIN/-EBUSY: the kernel is short of resources; the entries stay in the ring and
        // go with the next submit (after the next completion or kick). Anything else means
        // the ring is unusable: fail what it did not take rather than leave it hanging.
        if rc < 0, rc != -EAGAIN, rc != -EBUSY {
            for slot in prepared.map({ waiting[$0] }) {
                inFlight -= 1
                finish(slot, .failure(.io(operation: "io_uring_submit", offset: slots[slot]?.position ?? 0, errno: -rc)))
            }
        }
        compactWaiting()
    }

    /// Drops the consumed prefix of the waiting list once it dominates (amortised O(1)).
    private func compactWaiting() {
        if waitingHead == waiting.count {
            waiting.removeAll(keepingCapacity: true)
            waitingHead = 0
        } else if waitingHead > 64 && waitingHead * 2 > waiting.count {
            waiting.removeFirst(waitingHead)
            waitingHead = 0
        }
    }

    /// Takes every completion the kernel posted, runs the finished operations' completions
    /// and resubmits the unfinished ones. Returns the number of completions taken.
    @discardableResult
    public func reap() -> Int {
        _ = ring.completions.drain()
        var taken = 0
        ring.forEachCompletion { tag, result in
            taken += 1
            inFlight -= 1
            complete(Int(tag), result)
        }
        submit()
        return taken
    }

    private func prepare(_ slot: Int, _ sqe: UnsafeMutablePointer<io_uring_sqe>) {
        guard var op = slots[slot] else { return }
        let fd = backend.fileDescriptor
        let tag = UInt64(slot)
        switch op.kind {
        case .read, .write:
            let count = min(op.iovecs.count - op.first, Self.maxIOVecs)
            let base = op.iovecs.baseAddress.map { $0 + op.first }
            op.submitted = (op.first..<(op.first + count)).reduce(0) { $0 + op.iovecs[$1].iov_len }
            if case .read = op.kind {
                swiftdm_uring_prep_readv(sqe, fd, base, UInt32(count), op.position, tag)
            } else {
                swiftdm_uring_prep_writev(sqe, fd, base, UInt32(count), op.position, tag)
            }
        case .fsync:
            swiftdm_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC, tag)
        case .fallocate(let modes, _):
            swiftdm_uring_prep_fallocate(sqe, fd, modes.first ?? 0, op.position, op.length, tag)
        }
        slots[slot] = op
    }

    /// One completion: done, continued (short transfer, retryable error, next fallback), or failed.
    private func complete(_ slot: Int, _ result: Int32) {
        guard var op = slots[slot] else { return }
        if result == -EAGAIN || result == -EINTR {
            waiting.append(slot)
            return
        }
        switch op.kind {
        case .read, .write:
            let isRead: Bool = if case .read = op.kind { true } else { false }
            if result < 0 {
                return finish(slot, .failure(.io(operation: isRead ? "readv" : "writev", offset: op.position, errno: -result)))
            }
            if result == 0 && op.submitted > 0 {
                // No progress: past the end of the image (read) or a full disk (write), an
                // error rather than a silent truncation, as with the thread-pool engine.
                return finish(slot, .failure(.io(operation: isRead ? "readv" : "writev", offset: op.position,
                                                 errno: isRead ? EIO : ENOSPC)))
            }
            op.position += UInt64(result)
            var left = Int(result)
            while left > 0 && op.first < op.iovecs.count {
                let len = op.iovecs[op.first].iov_len
                if left >= len {
                    left -= len
                    op.first += 1
                } else {
                    op.iovecs[op.first].iov_base = op.iovecs[op.first].iov_base.map { $0 + left }
                    op.iovecs[op.first].iov_len = len - left
                    left = 0
                }
            }
            slots[slot] = op
            if op.first < op.iovecs.count {
                waiting.append(slot)  // short transfer: continue from where it stopped
            } else {
                finish(slot, .success(()))
            }
        case .fsync:
            finish(slot, result < 0 ? .failure(.io(operation: "fdatasync", offset: 0, errno: -result)) : .success(()))
        case .fallocate(let modes, let thenWriteZeroes):
            if result >= 0 { return finish(slot, .success(())) }
            let e = -result
            guard e == EOPNOTSUPP || e == ENOSYS || (thenWriteZeroes && e == EINVAL) else {
                return finish(slot, .failure(.io(operation: "fallocate(\(modes.first ?? 0))", offset: op.position, errno: e)))
            }
            let rest = modes.dropFirst()
            if !rest.isEmpty {
                op.kind = .fallocate(modes: rest, thenWriteZeroes: thenWriteZeroes)
            } else if thenWriteZeroes {
                op.kind = .write
                op.iovecs = zeroIOVecs(length: op.length)
                op.ownsIOVecs = true
                op.first = 0
            } else {
                return finish(slot, .success(()))
            }
            slots[slot] = op
            waiting.append(slot)
        }
    }

    /// iovecs covering `length` bytes, all pointing at the shared zero chunk.
    private func zeroIOVecs(length: UInt64) -> UnsafeMutableBufferPointer<iovec> {
        let chunk = UInt64(Self.zeroChunk)
        let count = Int((length + chunk - 1) / chunk)
        let out = UnsafeMutableBufferPointer<iovec>.allocate(capacity: count)
        var left = length
        for i in 0..<count {
            let n = min(chunk, left)
            out[i] = iovec(iov_base: zeroes.bytes.baseAddress, iov_len: Int(n))
            left -= n
        }
        return out
    }

    private func finish(_ slot: Int, _ result: Result<Void, BlockBackendError>) {
        guard let op = slots[slot] else { return }
        slots[slot] = nil
        freeSlots.append(slot)
        if op.ownsIOVecs { op.iovecs.deallocate() }
        if case .success = result, let targets = op.scatterTo, let bounce = op.bounce { bounce.scatter(into: targets) }
        op.completion(result)
    }
}
