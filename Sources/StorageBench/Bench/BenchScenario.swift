/// One row group of the bench table: a workload run against both backends.
public struct BenchScenario: Sendable, Hashable {
    /// The workload; its ``BlockWorkload/length`` is replaced by the bench's duration.
    public var workload: BlockWorkload
    /// Whether the host-fio limit is measured beside it (fio runs the same 4k QD32 random reads).
    public var hasHostLimit: Bool

    /// "4k randread QD32".
    public var name: String { workload.description }
    /// The name as one command-line word: "4k-randread-qd32".
    public var key: String { name.lowercased().split(separator: " ").joined(separator: "-") }
    /// Large sequential requests are reported in MB/s, small ones in IOPS.
    public var reportsBandwidth: Bool { workload.blockSize >= 1 << 20 }

    /// The list: 4k random read and write at queue depth 1 and 32, and 1 MiB
    /// sequential reads (at queue depth 8, enough to keep a backend's I/O path busy); and
    /// the queue-depth-1 pair again with a polling driver, whose latency is the backend's
    /// path without the frontend's wake-up (the same for both sides, and most of the
    /// interrupt-driven figure).
    public static let standard: [BenchScenario] = [
        BenchScenario(workload: BlockWorkload(.randomRead, blockSize: 4096, queueDepth: 1, length: .seconds(1)), hasHostLimit: false),
        BenchScenario(workload: BlockWorkload(.randomRead, blockSize: 4096, queueDepth: 32, length: .seconds(1)), hasHostLimit: true),
        BenchScenario(workload: BlockWorkload(.randomWrite, blockSize: 4096, queueDepth: 1, length: .seconds(1)), hasHostLimit: false),
        BenchScenario(workload: BlockWorkload(.randomWrite, blockSize: 4096, queueDepth: 32, length: .seconds(1)), hasHostLimit: false),
        BenchScenario(workload: BlockWorkload(.sequentialRead, blockSize: 1 << 20, queueDepth: 8, length: .seconds(1)), hasHostLimit: false),
        BenchScenario(workload: BlockWorkload(.randomRead, blockSize: 4096, queueDepth: 1, length: .seconds(1), completions: .polled),
                      hasHostLimit: false),
        BenchScenario(workload: BlockWorkload(.randomWrite, blockSize: 4096, queueDepth: 1, length: .seconds(1), completions: .polled),
                      hasHostLimit: false),
    ]
}
