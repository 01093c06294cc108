/// One fio job the guest runs on its vhost-user-blk disk: random 4 KiB reads or writes at a
/// queue depth, `O_DIRECT` so every request reaches the device.
public struct GuestFioJob: Sendable, Hashable {
    /// Reads or writes.
    public var writes: Bool
    /// Request size in bytes and requests in flight.
    public var blockSize: Int
    public var queueDepth: Int

    /// A job of `blockSize`-byte random reads (or writes) at `queueDepth`.
    public init(writes: Bool, blockSize: Int = 4096, queueDepth: Int) {
        self.writes = writes
        self.blockSize = blockSize
        self.queueDepth = queueDepth
    }

    /// fio's `--rw`.
    public var readWrite: String { writes ? "randwrite" : "randread" }
    /// "4k randread QD32".
    public var name: String { "\(blockSize >> 10)k \(readWrite) QD\(queueDepth)" }
    /// The name as one word, for fio's job name and the guest's report keys: "4k-randread-qd32".
    public var key: String { name.lowercased().split(separator: " ").joined(separator: "-") }

    /// The list: 4k random read and write, at queue depth 1 and 32.
    public static let standard: [GuestFioJob] = [
        GuestFioJob(writes: false, queueDepth: 1),
        GuestFioJob(writes: false, queueDepth: 32),
        GuestFioJob(writes: true, queueDepth: 1),
        GuestFioJob(writes: true, queueDepth: 32),
    ]
}
