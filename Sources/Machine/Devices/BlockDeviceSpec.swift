import HostIO
import Virtio
import VirtioDevices

/// A virtio-blk disk on a raw image or block device:
/// `PATH[,readonly=on|off][,serial=ID][,transport=pci|pci-transitional|mmio][,aio=io_uring|threads|inline][,cache=writeback|none][,poll-max-ns=N][,num-queues=N][,iothreads=N]`
/// (`--disk`, `--blk`), or `virtio-blk,file=PATH,…` through `--device`. `aio=`, `cache=` and
/// `num-queues=` take QEMU's spellings; `iothreads=N` spreads the queues over N I/O threads
/// (QEMU's `iothread-vq-mapping` with N IOThreads, round robin).
public struct BlockDeviceSpec: Hashable, Sendable, CustomStringConvertible {
    /// virtio-blk's `GET_ID` answer is at most 20 bytes (virtio 1.2 §5.2.6).
    public static let maximumSerialLength = 20
    static let syntax = "PATH[,readonly=on|off][,serial=ID][,transport=pci|pci-transitional|mmio][,aio=io_uring|threads|inline][,cache=writeback|none][,poll-max-ns=N][,num-queues=N][,iothreads=N]"

    public var path: String
    public var readOnly: Bool
    public var serial: String?
    /// `nil`: the machine's default transport.
    public var transport: VirtioTransportKind?
    /// `aio=`: the I/O engine; `nil` is io_uring where available, else the thread pool.
    public var aio: BlockIOEngine?
    /// `cache=`: buffered (`writeback`, the default) or `O_DIRECT` (`none`).
    public var cache: BlockCacheMode
    /// `poll-max-ns=`: the longest a queue polls its avail ring after a pass (QEMU's
    /// iothread `poll-max-ns`); 0 never polls; `nil`: where the device runs decides
    /// (``DeviceBuildContext/defaultPolling``).
    public var pollMaxNanoseconds: Int?
    /// `num-queues=`: request queues (`VIRTIO_BLK_F_MQ`), at most the machine's vCPU count
    /// where it is known; 1 by default.
    public var queues: Int
    /// `iothreads=`: I/O threads serving the queues (queue `i` on thread `i % N`); 1 by
    /// default, at most as many as there are queues.
    public var queueThreads: Int

    /// The largest `poll-max-ns` accepted: ``AvailRingPolling/maximumLimit``.
    static let maximumPollNanoseconds = Int(AvailRingPolling.maximumLimit.components.seconds) * 1_000_000_000
        + Int(AvailRingPolling.maximumLimit.components.attoseconds / 1_000_000_000)

    public init(path: String, readOnly: Bool = false, serial: String? = nil, transport: VirtioTransportKind? = nil,
                aio: BlockIOEngine? = nil, cache: BlockCacheMode = .writeback, pollMaxNanoseconds: Int? = nil,
                queues: Int = 1, queueThreads: Int = 1) {
        self.path = path
        self.readOnly = readOnly
        self.serial = serial
        self.transport = transport
        self.aio = aio
        self.cache = cache
        self.pollMaxNanoseconds = pollMaxNanoseconds
        self.queues = queues
        self.queueThreads = queueThreads
    }

    /// Parses `options` (the path first unless it comes as `file=`); `option` names the
    /// command-line option in messages.
    init(positional: String?, options: [DeviceOptionList.Field], text: String, option: String) throws(DeviceSpecError) {
        var path = positional
        readOnly = false
        cache = .writeback
        pollMaxNanoseconds = nil
        queues = 1
        queueThreads = 1
        for field in options {
            switch (field.key, field.value) {
            case ("file", let value?) where path == nil:
                path = value
            case ("readonly", let value):
                readOnly = try OnOffValue.parse(value, option: "\(option) readonly")
            case ("serial", let value?):
                guard !value.isEmpty, value.utf8.count <= Self.maximumSerialLength,
                      value.allSatisfy({ $0.isASCII && !$0.isNewline })
                else {
                    throw DeviceSpecError(option: "\(option) serial", value: value, expected: "expected 1 to \(Self.maximumSerialLength) ASCII characters")
                }
                serial = value
            case ("transport", let value?):
                transport = try VirtioTransportKind(parsing: value, option: "\(option) transport")
            case ("aio", let value?):
                guard let engine = BlockIOEngine(rawValue: value) else {
                    throw DeviceSpecError(option: "\(option) aio", value: value, expected: "expected io_uring, threads or inline")
                }
                aio = engine
            case ("cache", let value?):
                guard let mode = BlockCacheMode(rawValue: value) else {
                    throw DeviceSpecError(option: "\(option) cache", value: value, expected: "expected writeback or none")
                }
                cache = mode
            case ("poll-max-ns", let value?):
                pollMaxNanoseconds = try Self.count(value, in: 0...Self.maximumPollNanoseconds, of: "nanoseconds", option: "\(option) poll-max-ns")
            case ("num-queues", let value?):
                queues = try Self.count(value, in: 1...VirtioBlockDevice.maximumQueues, of: "a queue count", option: "\(option) num-queues")
            case ("iothreads", let value?):
                queueThreads = try Self.count(value, in: 1...VirtqueueService.maximumQueueThreads, of: "a thread count",
                                              option: "\(option) iothreads")
            default:
                throw DeviceSpecError(
                    option: option, value: text,
                    expected: "unknown disk option '\(field.key)' (readonly, serial, transport, aio, cache, poll-max-ns, num-queues, iothreads)")
            }
        }
        guard let path, !path.isEmpty else {
            throw DeviceSpecError(option: option, value: text, expected: "expected \(Self.syntax)")
        }
        self.path = path
    }

    /// `value` as a whole number in `range`; the error names the option and the range.
    private static func count(_ value: String, in range: ClosedRange<Int>, of what: String, option: String) throws(DeviceSpecError) -> Int {
        guard let n = Int(value), range.contains(n) else {
            throw DeviceSpecError(option: option, value: value, expected: "expected \(what) from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }

    public var description: String {
        "virtio-blk \(path)\(readOnly ? " (read-only)" : "")\(serial.map { " serial \($0)" } ?? "")"
            + (aio.map { " aio=\($0.rawValue)" } ?? "") + (cache == .writeback ? "" : " cache=\(cache.rawValue)")
            + (pollMaxNanoseconds.map { " poll-max-ns=\($0)" } ?? "")
            + (queues == 1 ? "" : " num-queues=\(queues)") + (queueThreads == 1 ? "" : " iothreads=\(queueThreads)")
    }

    func makeDevice(_ context: DeviceBuildContext) throws -> VirtioBlockDevice {
        // An explicit num-queues is honoured as QEMU does, beyond the vCPU count too (the
        // vhost-user command does not know the guest's); Linux uses at most one per vCPU.
        var configuration = VirtioBlockConfiguration(path: path, readOnly: readOnly, serial: serial, queues: queues,
                                                     aio: aio, cache: cache)
        configuration.queueThreads = queueThreads
        configuration.pollLimit = pollMaxNanoseconds.map { .nanoseconds($0) } ?? context.defaultPolling
        configuration.locksImageAtOpen = !context.incomingMigration
        return try VirtioBlockDevice(configuration: configuration, name: "virtio-blk\(context.index)")
    }
}
