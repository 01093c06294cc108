/// One load: what to do (read or write, random or sequential), in what block size, at what
/// queue depth, for how long.
public struct BlockWorkload: Sendable, Hashable, CustomStringConvertible {
    /// The access pattern, named as fio names its `--rw` values.
    public enum Pattern: String, Sendable, Hashable, CaseIterable {
        case randomRead = "randread"
        case randomWrite = "randwrite"
        case sequentialRead = "read"
        case sequentialWrite = "write"

        /// Writes (else reads); random offsets (else sequential, wrapping at the region's end).
        public var isWrite: Bool { self == .randomWrite || self == .sequentialWrite }
        public var isRandom: Bool { self == .randomRead || self == .randomWrite }
    }

    /// How the driver learns of completions.
    public enum Completions: String, Sendable, Hashable {
        /// It sleeps on the call eventfd once nothing is left to reap (an interrupt-driven
        /// guest driver).
        case interrupts
        /// It spins on the used ring with interrupts suppressed, as Linux's virtio-blk poll
        /// queues do (`virtio_blk.poll_queues`, io_uring `IORING_SETUP_IOPOLL`): the latency
        /// is then the backend's path alone, without the frontend's own wake-up.
        case polled
    }

    /// When the run ends.
    public enum Length: Sendable, Hashable {
        /// After this many requests completed.
        case requests(Int)
        /// After this many seconds (requests in flight then are still completed and counted).
        case seconds(Double)
    }

    /// Reads or writes, random or sequential.
    public var pattern: Pattern
    /// Bytes per request (a multiple of 512).
    public var blockSize: Int
    /// Requests kept in flight.
    public var queueDepth: Int
    /// When the run ends.
    public var length: Length
    /// The byte range of the disk used (default: all of it).
    public var region: Range<UInt64>?
    /// Writes carry this pattern and reads are checked against it; `nil`: buffers are sent as
    /// they are and reads are not checked (the benchmark's mode).
    public var dataPattern: DataPattern?
    /// Seeds the random offsets, so a run can be repeated exactly.
    public var seed: UInt64
    /// Interrupt-driven (the default) or polled completions.
    public var completions: Completions

    /// A workload; by default over the whole disk, unchecked data, a fixed seed.
    public init(_ pattern: Pattern, blockSize: Int, queueDepth: Int, length: Length, region: Range<UInt64>? = nil,
                dataPattern: DataPattern? = nil, seed: UInt64 = 0x5eed, completions: Completions = .interrupts) {
        self.pattern = pattern
        self.blockSize = blockSize
        self.queueDepth = queueDepth
        self.length = length
        self.region = region
        self.dataPattern = dataPattern
        self.seed = seed
        self.completions = completions
    }

    /// "4k randread QD32", "1M read QD8", "4k randread QD1 polled".
    public var description: String {
        let size = blockSize % (1 << 20) == 0 ? "\(blockSize >> 20)M" : blockSize % 1024 == 0 ? "\(blockSize >> 10)k" : "\(blockSize)B"
        return "\(size) \(pattern.rawValue) QD\(queueDepth)" + (completions == .polled ? " polled" : "")
    }
}
