import Synchronization

/// What a virtio-blk device's requests did to its image, counted as each one completes
/// (QEMU's `BlockAcctStats`, reported by QMP `query-blockstats`), and where failures are
/// reported (QMP's `BLOCK_IO_ERROR`).
///
/// Counters are relaxed atomics, added to from the device's I/O and worker threads; a
/// ``snapshot`` read from another thread may see one counter of a request before another.
public final class BlockStatistics: Sendable {
    /// One kind of request as QEMU's accounting names it.
    public enum Operation: String, Sendable, CaseIterable {
        case read
        case write
        case flush
        /// Discard and write-zeroes.
        case unmap
    }

    /// The counters at one moment.
    public struct Snapshot: Sendable, Hashable {
        public var bytes: [Operation: UInt64] = [:]
        public var operations: [Operation: UInt64] = [:]
        public var failed: [Operation: UInt64] = [:]
        /// Requests refused before reaching the image (out of range, read-only).
        public var invalid: [Operation: UInt64] = [:]
        /// The end of the furthest write so far.
        public var highestWriteOffset: UInt64 = 0
    }

    /// A request the image failed (the guest got `VIRTIO_BLK_S_IOERR`).
    public struct Failure: Sendable, Hashable {
        public var operation: Operation
        /// The host's error, as text.
        public var reason: String
    }

    /// One relaxed atomic counter (atomics cannot sit in an array themselves).
    private final class Counter: Sendable {
        let value = Atomic<UInt64>(0)
    }
    private let byteCounts = (0..<4).map { _ in Counter() }
    private let operationCounts = (0..<4).map { _ in Counter() }
    private let failedCounts = (0..<4).map { _ in Counter() }
    private let invalidCounts = (0..<4).map { _ in Counter() }
    private let highestWrite = Atomic<UInt64>(0)
    private let failureHandler = Mutex<(@Sendable (Failure) -> Void)?>(nil)

    public init() {}

    private static func index(_ op: Operation) -> Int {
        switch op {
        case .read: 0
        case .write: 1
        case .flush: 2
        case .unmap: 3
        }
    }

    /// Calls `handler` for every failed request from now on (on the thread that completed it).
    public func onFailure(_ handler: @escaping @Sendable (Failure) -> Void) {
        failureHandler.withLock { $0 = handler }
    }

    /// A request of `bytes` bytes at `offset` completed; `failure` says why it failed, if it did.
    func completed(_ op: Operation, bytes: UInt64, offset: UInt64 = 0, failure: String? = nil) {
        let i = Self.index(op)
        if let failure {
            failedCounts[i].value.add(1, ordering: .relaxed)
            let handler = failureHandler.withLock { $0 }
            handler?(Failure(operation: op, reason: failure))
            return
        }
        operationCounts[i].value.add(1, ordering: .relaxed)
        byteCounts[i].value.add(bytes, ordering: .relaxed)
        if op == .write { _ = highestWrite.max(offset &+ bytes, ordering: .relaxed) }
    }

    /// A request refused without touching the image.
    func invalid(_ op: Operation) {
        invalidCounts[Self.index(op)].value.add(1, ordering: .relaxed)
    }

    /// The counters now.
    public var snapshot: Snapshot {
        var s = Snapshot()
        for op in Operation.allCases {
            let i = Self.index(op)
            s.bytes[op] = byteCounts[i].value.load(ordering: .relaxed)
            s.operations[op] = operationCounts[i].value.load(ordering: .relaxed)
            s.failed[op] = failedCounts[i].value.load(ordering: .relaxed)
            s.invalid[op] = invalidCounts[i].value.load(ordering: .relaxed)
        }
        s.highestWriteOffset = highestWrite.load(ordering: .relaxed)
        return s
    }
}
