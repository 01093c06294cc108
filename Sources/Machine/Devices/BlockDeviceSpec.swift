import HostIO
import Virtio
import VirtioDevices

/// A virtio-blk disk on a raw image or block device:
/// `PATH[,readonly=on|off][,serial=ID][,transport=pci|pci-transitional|mmio][,aio=io_uring|threads|inline][,cache=writeback|none][,poll-max-ns=N]`
/// (`--disk`, `--blk`), or `virtio-blk,file=PATH,…` through `--device`. `aio=` and `cache=`
/// take QEMU's spellings.
public struct BlockDeviceSpec: Hashable, Sendable, CustomStringConvertible {
    /// virtio-blk's `GET_ID` answer is at most 20 bytes (virtio 1.2 §5.2.6).
    public static let maximumSerialLength = 20
    static let syntax = "PATH[,readonly=on|off][,serial=ID][,transport=pci|pci-transitional|mmio][,aio=io_uring|threads|inline][,cache=writeback|none][,poll-max-ns=N]"

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

    /// The largest `poll-max-ns` accepted: ``AvailRingPolling/maximumLimit``.
    static let maximumPollNanoseconds = Int(AvailRingPolling.maximumLimit.components.seconds) * 1_000_000_000
        + Int(AvailRingPolling.maximumLimit.components.attoseconds / 1_000_000_000)

    public init(path: String, readOnly: Bool = false, serial: String? = nil, transport: VirtioTransportKind? = nil,
                aio: BlockIOEngine? = nil, cache: BlockCacheMode = .writeback, pollMaxNanoseconds: Int? = nil) {
        self.path = path
        self.readOnly = readOnly
        self.serial = serial
        self.transport = transport
        self.aio = aio
        self.cache = cache
        self.pollMaxNanoseconds = pollMaxNanoseconds
    }

    /// Parses `options` (the path first unless it comes as `file=`); `option` names the
    /// command-line option in messages.
    init(positional: String?, options: [DeviceOptionList.Field], text: String, option: String) throws(DeviceSpecError) {
        var path = positional
        readOnly = false
        cache = .writeback
        pollMaxNanoseconds = nil
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
                guard let ns = Int(value), (0...Self.maximumPollNanoseconds).contains(ns) else {
                    throw DeviceSpecError(option: "\(option) poll-max-ns", value: value,
                                          expected: "expected nanoseconds from 0 to \(Self.maximumPollNanoseconds)")
                }
                pollMaxNanoseconds = ns
            default:
                throw DeviceSpecError(
                    option: option, value: text,
                    expected: "unknown disk option '\(field.key)' (readonly, serial, transport, aio, cache, poll-max-ns)")
            }
        }
        guard let path, !path.isEmpty else {
            throw DeviceSpecError(option: option, value: text, expected: "expected \(Self.syntax)")
        }
        self.path = path
    }

    public var description: String {
        "virtio-blk \(path)\(readOnly ? " (read-only)" : "")\(serial.map { " serial \($0)" } ?? "")"
            + (aio.map { " aio=\($0.rawValue)" } ?? "") + (cache == .writeback ? "" : " cache=\(cache.rawValue)")
            + (pollMaxNanoseconds.map { " poll-max-ns=\($0)" } ?? "")
    }

    func makeDevice(_ context: DeviceBuildContext) throws -> VirtioBlockDevice {
        var configuration = VirtioBlockConfiguration(path: path, readOnly: readOnly, serial: serial, vcpus: context.vcpuCount,
                                                     aio: aio, cache: cache)
        configuration.pollLimit = pollMaxNanoseconds.map { .nanoseconds($0) } ?? context.defaultPolling
        configuration.locksImageAtOpen = !context.incomingMigration
        return try VirtioBlockDevice(configuration: configuration, name: "virtio-blk\(context.index)")
    }
}
