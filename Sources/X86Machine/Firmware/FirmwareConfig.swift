import DeviceModel
import Synchronization

/// Errors from assembling a ``FirmwareConfig``.
public enum FirmwareConfigError: Error, Equatable, CustomStringConvertible {
    /// File names are at most 55 bytes (56 with the terminating NUL).
    case fileNameTooLong(String)
    case duplicateFile(String)
    /// More files than the selector space from 0x20 up holds.
    case tooManyFiles(Int)
    /// An item larger than the 32-bit size field of the file directory.
    case itemTooLarge(name: String, size: Int)

    public var description: String {
        switch self {
        case .fileNameTooLong(let n): "fw_cfg file name '\(n)' is longer than 55 bytes"
        case .duplicateFile(let n): "fw_cfg file '\(n)' added twice"
        case .tooManyFiles(let c): "\(c) fw_cfg files exceed the selector space"
        case .itemTooLarge(let name, let size): "fw_cfg item '\(name)' of \(size) bytes is too large"
        }
    }
}

/// QEMU's firmware configuration device (fw_cfg), I/O-port interface without DMA, which SeaBIOS
/// and other QEMU-aware firmware read for the machine's configuration (QEMU docs/specs/fw_cfg.rst).
///
/// Ports: the 16-bit selector register at 0x510 (little-endian) and the 8-bit data register at
/// 0x511. Writing the selector picks an item and rewinds its read offset; each data read returns
/// the next byte, and 0 past the end or for an unknown selector. Writes to the data register are
/// ignored, as in QEMU since 2.4. `FW_CFG_ID` reports the traditional interface only (bit 0), so
/// firmware never tries the DMA interface.
///
/// Items: the signature "QEMU", `FW_CFG_ID`, the CPU counts, the file directory at 0x19
/// (big-endian count, then `{u32 size, u16 select, u16 reserved, char name[56]}` entries, sorted
/// by name), files from selector 0x20 up, and any numbered items the caller adds.
public final class FirmwareConfig: IOHandler, Sendable {
    /// The selector register; the data register follows it.
    public static let selectorPort: UInt64 = 0x510
    public static let portCount: UInt64 = 2

    public static let signatureKey: UInt16 = 0x00
    public static let idKey: UInt16 = 0x01
    public static let cpuCountKey: UInt16 = 0x05
    public static let bootMenuKey: UInt16 = 0x0E
    public static let maxCPUCountKey: UInt16 = 0x0F
    public static let fileDirectoryKey: UInt16 = 0x19
    public static let firstFileKey: UInt16 = 0x20
    /// Architecture-specific items start here (x86: 0x8002 is "IRQ0 override").
    public static let archLocalKey: UInt16 = 0x8000
    public static let irq0OverrideKey: UInt16 = 0x8002
    /// Names are at most this long, including the terminating NUL.
    public static let maximumFileNameLength = 56

    /// One named item in the file directory.
    public struct File: Sendable, Hashable {
        public var name: String
        public var bytes: [UInt8]

        public init(name: String, bytes: [UInt8]) {
            self.name = name
            self.bytes = bytes
        }

        /// A little-endian integer of `size` bytes, as firmware's `romfile_loadint` reads it.
        public static func integer(_ name: String, _ value: UInt64, size: Int) -> File {
            File(name: name, bytes: (0..<size).map { UInt8(truncatingIfNeeded: value >> UInt64(8 * $0)) })
        }
    }

    private let items: [UInt16: [UInt8]]
    private let selection = Mutex<(key: UInt16, offset: Int)>((key: 0, offset: 0))

    /// The selector of each file, by name.
    public let fileSelectors: [String: UInt16]

    /// Builds the item table. `items` adds numbered items (e.g. ``irq0OverrideKey``); the
    /// signature, ID, CPU counts and file directory are always present.
    public init(cpuCount: Int, files: [File], items extra: [UInt16: [UInt8]] = [:]) throws(FirmwareConfigError) {
        var names = Set<String>()
        for f in files {
            guard f.name.utf8.count < Self.maximumFileNameLength else { throw .fileNameTooLong(f.name) }
            guard names.insert(f.name).inserted else { throw .duplicateFile(f.name) }
            guard f.bytes.count <= Int(UInt32.max) else { throw .itemTooLarge(name: f.name, size: f.bytes.count) }
        }
        guard files.count <= Int(Self.archLocalKey - Self.firstFileKey) else { throw .tooManyFiles(files.count) }
        let sorted = files.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }

        var items = extra
        let cpus = UInt16(clamping: cpuCount)
        items[Self.signatureKey] = Array("QEMU".utf8)
        items[Self.idKey] = [1, 0, 0, 0]
        items[Self.cpuCountKey] = [UInt8(cpus & 0xFF), UInt8(cpus >> 8)]
        items[Self.maxCPUCountKey] = [UInt8(cpus & 0xFF), UInt8(cpus >> 8)]
        var directory = Self.bigEndian(UInt32(sorted.count))
        var selectors: [String: UInt16] = [:]
        for (i, f) in sorted.enumerated() {
            let key = Self.firstFileKey + UInt16(i)
            items[key] = f.bytes
            selectors[f.name] = key
            directory += Self.bigEndian(UInt32(f.bytes.count))
            directory += [UInt8(key >> 8), UInt8(key & 0xFF), 0, 0]
            var name = Array(f.name.utf8)
            name += [UInt8](repeating: 0, count: Self.maximumFileNameLength - name.count)
            directory += name
        }
        items[Self.fileDirectoryKey] = directory
        self.items = items
        self.fileSelectors = selectors
    }

    private static func bigEndian(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }

    /// The bytes of the item at `key`, if any.
    public func item(_ key: UInt16) -> [UInt8]? { items[key] }

    public func read(at offset: UInt64, size: Int) -> UInt64 {
        // Only byte reads of the data register are valid on the I/O-port interface (as in QEMU);
        // anything else reads 0 without moving the offset.
        guard offset == 1, size == 1 else { return 0 }
        return selection.withLock { s in
            guard let bytes = items[s.key], s.offset < bytes.count else { return 0 }
            defer { s.offset += 1 }
            return UInt64(bytes[s.offset])
        }
    }

    public func write(at offset: UInt64, size: Int, value: UInt64) {
        // The selector is the 16-bit register at offset 0; bit 14 (write channel) is not supported,
        // so it is masked off: the item reads as usual and data-register writes stay ignored.
        guard offset == 0, size == 2 else { return }
        let key = UInt16(truncatingIfNeeded: value) & ~0x4000
        selection.withLock { $0 = (key: key, offset: 0) }
    }
}

// MARK: System reset

extension FirmwareConfig: SystemResettable {
    /// The selector back to item 0 at offset 0 (QEMU's `fw_cfg_reset`); the items are the
    /// machine's configuration and do not change.
    public func systemReset() {
        selection.withLock { $0 = (key: 0, offset: 0) }
    }
}

// MARK: Device state

extension FirmwareConfig: DeviceStateful {
    static let stateKind = "fw_cfg"

    /// The items are rebuilt from the machine's configuration; only the firmware's position in
    /// them is state.
    public func saveState(id: String) -> DeviceStateRecord {
        var r = DeviceStateRecord(id: id, kind: Self.stateKind, version: 1)
        selection.withLock { s in
            r.set("selector", s.key)
            r.set("offset", UInt64(s.offset))
        }
        return r
    }

    public func restoreState(_ r: DeviceStateRecord) throws(DeviceStateError) {
        try r.expect(kind: Self.stateKind, versions: 1...1)
        let key: UInt16 = try r.integer("selector")
        let length = items[key]?.count ?? 0
        let offset = try r.unsigned("offset", max: UInt64(length))
        selection.withLock { $0 = (key, Int(offset)) }
    }
}
