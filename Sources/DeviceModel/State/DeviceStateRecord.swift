/// One device's saved state: a self-describing record of named, typed fields, versioned by
/// the device kind that wrote it. Restoring code reads fields by name and type and validates
/// every value (``DeviceStateRecord/unsigned(_:max:)`` and friends), so a record from a hostile
/// file can at worst be refused.
public struct DeviceStateRecord: Sendable, Equatable {
    /// A field value.
    public enum Value: Sendable, Equatable {
        case unsigned(UInt64)
        case bool(Bool)
        case bytes([UInt8])
        case string(String)
        case unsignedArray([UInt64])

        var typeName: String {
            switch self {
            case .unsigned: "an unsigned integer"
            case .bool: "a boolean"
            case .bytes: "bytes"
            case .string: "a string"
            case .unsignedArray: "an array of unsigned integers"
            }
        }
    }

    /// Where the device sits in its machine (`pci/00:04.0`, `isa/com1`): unique in an archive.
    public var id: String
    /// What the device is (`uart16550`, `virtio-blk`); checked on restore.
    public var kind: String
    /// The layout version of the record's fields, per kind.
    public var version: UInt32
    /// Fields in the order they were written.
    public private(set) var fields: [(name: String, value: Value)]

    public init(id: String, kind: String, version: UInt32) {
        self.id = id
        self.kind = kind
        self.version = version
        self.fields = []
    }

    public static func == (a: DeviceStateRecord, b: DeviceStateRecord) -> Bool {
        a.id == b.id && a.kind == b.kind && a.version == b.version
            && a.fields.map(\.name) == b.fields.map(\.name) && a.fields.map(\.value) == b.fields.map(\.value)
    }

    // MARK: Writing

    /// Sets field `name` (replacing an earlier value of the same name).
    public mutating func set(_ name: String, _ value: Value) {
        if let i = fields.firstIndex(where: { $0.name == name }) {
            fields[i].value = value
        } else {
            fields.append((name, value))
        }
    }

    public mutating func set<T: FixedWidthInteger & UnsignedInteger>(_ name: String, _ value: T) { set(name, .unsigned(UInt64(value))) }
    public mutating func set(_ name: String, _ value: Bool) { set(name, .bool(value)) }
    public mutating func set(_ name: String, bytes: [UInt8]) { set(name, .bytes(bytes)) }
    public mutating func set(_ name: String, string: String) { set(name, .string(string)) }
    public mutating func set<T: FixedWidthInteger & UnsignedInteger>(_ name: String, array: [T]) {
        set(name, .unsignedArray(array.map { UInt64($0) }))
    }

    // MARK: Reading (validated)

    /// The raw value of `name`, if present.
    public func value(_ name: String) -> Value? { fields.first(where: { $0.name == name })?.value }

    /// Checks the record is a `kind` of a version in `versions`.
    public func expect(kind: String, versions: ClosedRange<UInt32>) throws(DeviceStateError) {
        guard self.kind == kind else { throw .wrongKind(id: id, expected: kind, found: self.kind) }
        guard versions.contains(version) else { throw .unsupportedVersion(id: id, kind: kind, version: version, supported: versions) }
    }

    private func field(_ name: String) throws(DeviceStateError) -> Value {
        guard let v = value(name) else { throw .missingField(id: id, field: name) }
        return v
    }

    /// An unsigned field no larger than `max`.
    public func unsigned(_ name: String, max: UInt64 = .max) throws(DeviceStateError) -> UInt64 {
        guard case .unsigned(let v) = try field(name) else { throw .wrongType(id: id, field: name, expected: "an unsigned integer") }
        guard v <= max else { throw .invalidValue(id: id, field: name, value: "\(v)", expected: "at most \(max)") }
        return v
    }

    /// An unsigned field that fits `T`.
    public func integer<T: FixedWidthInteger & UnsignedInteger>(_ name: String, as: T.Type = T.self) throws(DeviceStateError) -> T {
        T(truncatingIfNeeded: try unsigned(name, max: UInt64(T.max)))
    }

    public func bool(_ name: String) throws(DeviceStateError) -> Bool {
        guard case .bool(let v) = try field(name) else { throw .wrongType(id: id, field: name, expected: "a boolean") }
        return v
    }

    /// A bytes field of exactly `count` bytes (any length when `count` is nil, up to `maxCount`).
    public func bytes(_ name: String, count: Int? = nil, maxCount: Int = .max) throws(DeviceStateError) -> [UInt8] {
        guard case .bytes(let v) = try field(name) else { throw .wrongType(id: id, field: name, expected: "bytes") }
        if let count, v.count != count { throw .invalidValue(id: id, field: name, value: "\(v.count) bytes", expected: "\(count) bytes") }
        guard v.count <= maxCount else { throw .invalidValue(id: id, field: name, value: "\(v.count) bytes", expected: "at most \(maxCount) bytes") }
        return v
    }

    public func string(_ name: String) throws(DeviceStateError) -> String {
        guard case .string(let v) = try field(name) else { throw .wrongType(id: id, field: name, expected: "a string") }
        return v
    }

    /// An array of unsigned values, each at most `max`, of exactly `count` elements when given.
    public func unsignedArray(_ name: String, count: Int? = nil, max: UInt64 = .max) throws(DeviceStateError) -> [UInt64] {
        guard case .unsignedArray(let v) = try field(name) else { throw .wrongType(id: id, field: name, expected: "an array of unsigned integers") }
        if let count, v.count != count { throw .invalidValue(id: id, field: name, value: "\(v.count) elements", expected: "\(count) elements") }
        if let bad = v.first(where: { $0 > max }) { throw .invalidValue(id: id, field: name, value: "element \(bad)", expected: "elements at most \(max)") }
        return v
    }

    /// A refusal for `name`'s `value`, for checks the typed readers cannot express.
    public func invalid(_ name: String, _ value: some CustomStringConvertible, expected: String) -> DeviceStateError {
        .invalidValue(id: id, field: name, value: value.description, expected: expected)
    }
}

/// A device whose guest-visible state can be saved and restored, separate from what the
/// device does (as Cloud Hypervisor keeps `Snapshottable` apart from its device traits).
///
/// ``saveState(id:)`` is called with the machine quiesced (vCPUs parked, queues drained);
/// ``restoreState(_:)`` on a freshly built device of the same configuration, before the
/// guest runs. Restore validates every field and leaves the device unchanged when it throws.
public protocol DeviceStateful: AnyObject {
    /// The record of the device's state.
    func saveState(id: String) -> DeviceStateRecord
    /// Loads `record` (written by ``saveState(id:)`` of the same kind).
    func restoreState(_ record: DeviceStateRecord) throws(DeviceStateError)
}
