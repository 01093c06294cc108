import HostIO
import QMP
import VirtioDevices
#if canImport(Glibc)
import Glibc
#endif

/// `query-block`, `query-blockstats` and `block_resize` (qapi/block-core.json) over the
/// machine's virtio-blk devices, named `virtioN` with node names `virtioN-file`.
extension PCMachineQMP {
    func registerBlockCommands() {
        server.register("query-block") { [self] _ in .array(machine.blockDevices.map(Self.blockInfo)) }
        server.register("query-blockstats") { [self] _ in .array(machine.blockDevices.map(Self.blockStats)) }
        server.register("block_resize") { [self] arguments throws(QMPError) in
            let device = try Self.string(arguments, "device")
            let node = try Self.string(arguments, "node-name")
            guard let sizeValue = arguments["size"] else { throw QMPError(.genericError, "Parameter 'size' is missing") }
            guard let size = sizeValue.integerValue else { throw .badArgument("size", expected: "an integer") }
            guard size >= 0 else { throw QMPError(.genericError, "Parameter 'size' expects a >0 size") }
            guard (device == nil) != (node == nil) else {
                throw QMPError(.genericError, "Need exactly one of 'device' and 'node-name'")
            }
            guard let entry = machine.blockDevices.first(where: { $0.name == device || Self.nodeName($0.name) == node }) else {
                throw QMPError(.deviceNotFound, device.map { "Device '\($0)' not found" } ?? "Cannot find device='' nor node-name='\(node ?? "")'")
            }
            do {
                try entry.device.resize(to: UInt64(size))
            } catch {
                throw QMPError(.genericError, "\(error)")
            }
            return [:]
        }
    }

    /// The qdev path QEMU would show: here the device kind and where it sits.
    static func qdev(_ entry: PCMachine.BlockDeviceEntry) -> String {
        if let address = entry.attachment.pciAddress { return "virtio-blk-pci@\(address)" }
        if let slot = entry.attachment.mmioSlot { return "virtio-blk-mmio@\(slot)" }
        return entry.name
    }

    /// `BlockInfo`.
    static func blockInfo(_ entry: PCMachine.BlockDeviceEntry) -> JSONValue {
        let device = entry.device
        let path = device.configuration.path
        let readOnly = device.configuration.readOnly || device.backend.isReadOnly
        let file = device.backend as? FileBlockBackend
        let direct = file?.directIO != nil
        var image: [(key: String, value: JSONValue)] = [
            ("filename", .string(path)), ("format", "raw"), ("virtual-size", .count(device.capacityBytes)),
        ]
        var st = stat()
        if stat(path, &st) == 0 { image.append(("actual-size", .count(Int64(st.st_blocks) * 512))) }
        image.append(("dirty-flag", false))
        let inserted: JSONValue = .object([
            ("file", .string(path)), ("node-name", .string(nodeName(entry.name))), ("ro", .bool(readOnly)), ("drv", "raw"),
            ("backing_file_depth", 0), ("encrypted", false), ("detect_zeroes", "off"),
            ("bps", 0), ("bps_rd", 0), ("bps_wr", 0), ("iops", 0), ("iops_rd", 0), ("iops_wr", 0),
            ("image", .object(image)),
            ("cache", ["writeback": true, "direct": .bool(direct), "no-flush": false]),
            ("write_threshold", 0),
        ])
        return .object([
            ("device", .string(entry.name)), ("qdev", .string(qdev(entry))), ("type", "unknown"),
            ("removable", false), ("locked", false), ("io-status", "ok"), ("inserted", inserted),
        ])
    }

    /// `BlockStats`: the counters of ``BlockStatistics``; the time totals are not measured
    /// (zero).
    static func blockStats(_ entry: PCMachine.BlockDeviceEntry) -> JSONValue {
        let s = entry.device.statistics.snapshot
        func n(_ d: [BlockStatistics.Operation: UInt64], _ op: BlockStatistics.Operation) -> JSONValue { .count(d[op] ?? 0) }
        let stats: JSONValue = .object([
            ("rd_bytes", n(s.bytes, .read)), ("wr_bytes", n(s.bytes, .write)), ("zone_append_bytes", 0),
            ("unmap_bytes", n(s.bytes, .unmap)),
            ("rd_operations", n(s.operations, .read)), ("wr_operations", n(s.operations, .write)),
            ("zone_append_operations", 0), ("flush_operations", n(s.operations, .flush)),
            ("unmap_operations", n(s.operations, .unmap)),
            ("rd_total_time_ns", 0), ("wr_total_time_ns", 0), ("zone_append_total_time_ns", 0),
            ("flush_total_time_ns", 0), ("unmap_total_time_ns", 0),
            ("rd_merged", 0), ("wr_merged", 0), ("zone_append_merged", 0), ("unmap_merged", 0),
            ("wr_highest_offset", .count(s.highestWriteOffset)),
            ("failed_rd_operations", n(s.failed, .read)), ("failed_wr_operations", n(s.failed, .write)),
            ("failed_zone_append_operations", 0), ("failed_flush_operations", n(s.failed, .flush)),
            ("failed_unmap_operations", n(s.failed, .unmap)),
            ("invalid_rd_operations", n(s.invalid, .read)), ("invalid_wr_operations", n(s.invalid, .write)),
            ("invalid_zone_append_operations", 0), ("invalid_flush_operations", n(s.invalid, .flush)),
            ("invalid_unmap_operations", n(s.invalid, .unmap)),
            ("account_invalid", true), ("account_failed", true), ("timed_stats", []),
        ])
        return .object([
            ("device", .string(entry.name)), ("qdev", .string(qdev(entry))), ("node-name", .string(nodeName(entry.name))),
            ("stats", stats),
        ])
    }
}
