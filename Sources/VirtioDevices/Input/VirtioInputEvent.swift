/// `struct virtio_input_event` (virtio 1.2 §5.8.6): one evdev event as it crosses the
/// eventq and the statusq — `le16 type`, `le16 code`, `le32 value`.
public struct VirtioInputEvent: Sendable, Hashable, CustomStringConvertible {
    /// The evdev event type (`EV_KEY`, `EV_REL`, …).
    public var type: UInt16
    /// The evdev code within the type (`KEY_A`, `REL_X`, …).
    public var code: UInt16
    /// The value. evdev values are signed (relative motion, wheel steps); the wire carries
    /// their two's-complement bits in the `le32`.
    public var value: Int32

    /// Bytes of one event on the wire.
    public static let size = 8

    /// `EV_SYN`/`SYN_REPORT`, which closes every report.
    public static let synReport = VirtioInputEvent(type: Evdev.EventType.synchronize, code: Evdev.synReport, value: 0)

    public init(type: UInt16, code: UInt16, value: Int32) {
        self.type = type
        self.code = code
        self.value = value
    }

    /// Decodes exactly ``size`` little-endian bytes; `nil` for any other count.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.size else { return nil }
        type = UInt16(bytes[0]) | UInt16(bytes[1]) << 8
        code = UInt16(bytes[2]) | UInt16(bytes[3]) << 8
        let raw = UInt32(bytes[4]) | UInt32(bytes[5]) << 8 | UInt32(bytes[6]) << 16 | UInt32(bytes[7]) << 24
        value = Int32(bitPattern: raw)
    }

    /// The ``size`` bytes the driver reads, little-endian.
    public var bytes: [UInt8] {
        let raw = UInt32(bitPattern: value)
        return [
            UInt8(truncatingIfNeeded: type), UInt8(truncatingIfNeeded: type >> 8),
            UInt8(truncatingIfNeeded: code), UInt8(truncatingIfNeeded: code >> 8),
            UInt8(truncatingIfNeeded: raw), UInt8(truncatingIfNeeded: raw >> 8),
            UInt8(truncatingIfNeeded: raw >> 16), UInt8(truncatingIfNeeded: raw >> 24),
        ]
    }

    public var description: String { "type 0x\(String(type, radix: 16)) code 0x\(String(code, radix: 16)) value \(value)" }
}
