/// Why saved device state cannot be restored. Every case names what was wrong and where, so
/// a corrupted, truncated, foreign or hostile snapshot is refused with one clear line.
public enum DeviceStateError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The archive does not start with ``DeviceStateArchive/magic``.
    case notASnapshot
    /// The archive's format version is not one this build reads.
    case unsupportedFormat(version: UInt32)
    /// The data ends inside an element.
    case truncated(offset: Int, needed: Int)
    /// The checksum over the archive does not match: flipped or damaged bytes.
    case checksumMismatch(stored: UInt32, computed: UInt32)
    /// An element is malformed (bad type tag, invalid UTF-8, lengths beyond limits).
    case malformed(offset: Int, reason: String)
    /// Bytes follow the last record.
    case trailingBytes(count: Int)
    /// A device finds no record for itself.
    case missingRecord(id: String)
    /// The record is for another kind of device.
    case wrongKind(id: String, expected: String, found: String)
    /// The record's version is newer (or older) than the device can read.
    case unsupportedVersion(id: String, kind: String, version: UInt32, supported: ClosedRange<UInt32>)
    /// A field the device needs is absent.
    case missingField(id: String, field: String)
    /// A field has another type than the device expects.
    case wrongType(id: String, field: String, expected: String)
    /// A field's value is impossible for the device (out of range, wrong length, inconsistent).
    case invalidValue(id: String, field: String, value: String, expected: String)
    /// The archive has records for devices the machine does not have.
    case unexpectedRecords(ids: [String])

    public var description: String {
        switch self {
        case .notASnapshot: "not a swiftdm device-state file (bad magic)"
        case .unsupportedFormat(let v): "device-state format version \(v) is not supported (this build reads version \(DeviceStateArchive.formatVersion))"
        case .truncated(let o, let n): "device state truncated at byte \(o) (\(n) more bytes needed)"
        case .checksumMismatch(let s, let c): "device state is damaged: checksum \(hex(s)) stored, \(hex(c)) computed"
        case .malformed(let o, let r): "device state malformed at byte \(o): \(r)"
        case .trailingBytes(let n): "device state has \(n) bytes after its last record"
        case .missingRecord(let id): "device state has no record for \(id)"
        case .wrongKind(let id, let e, let f): "device state record \(id) is a \(f), not a \(e)"
        case .unsupportedVersion(let id, let k, let v, let s):
            "device state record \(id) (\(k)) has version \(v); this build reads \(s.lowerBound)…\(s.upperBound)"
        case .missingField(let id, let f): "device state record \(id) lacks field \(f)"
        case .wrongType(let id, let f, let e): "device state record \(id) field \(f) is not \(e)"
        case .invalidValue(let id, let f, let v, let e): "device state record \(id) field \(f) = \(v): expected \(e)"
        case .unexpectedRecords(let ids): "device state has records for devices this machine lacks: \(ids.joined(separator: ", "))"
        }
    }
}

private func hex(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - s.count)) + s
}
