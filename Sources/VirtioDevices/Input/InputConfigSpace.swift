import Synchronization

/// The `select` values of `struct virtio_input_config` (virtio 1.2 §5.8.4).
enum VirtioInputConfigSelect: UInt8 {
    case unset = 0x00
    case idName = 0x01
    case idSerial = 0x02
    case idDevids = 0x03
    case propBits = 0x10
    case evBits = 0x11
    case absInfo = 0x12
}

/// The virtio-input configuration space (virtio 1.2 §5.8.4): `u8 select`, `u8 subsel`,
/// `u8 size`, `u8 reserved[5]`, then a 128-byte union. The driver writes `select` and
/// `subsel`, then reads `size` and as many bytes of the union (Linux's
/// `virtinput_cfg_select` and `virtio_cread_bytes`); `size` 0 means "not supported".
///
/// Read from vCPU threads while another vCPU may write the selection: the selection sits
/// behind a mutex and every read renders the whole space from one snapshot of it.
final class InputConfigSpace: Sendable {
    /// Bytes in the space.
    static let length = 136
    /// Where the union starts.
    static let unionOffset = 8
    /// Bytes in the union: no answer is longer.
    static let unionLength = 128

    private struct Selection {
        var select: UInt8 = 0
        var subsel: UInt8 = 0
    }

    let capabilities: InputCapabilities
    private let selection = Mutex(Selection())

    init(capabilities: InputCapabilities) { self.capabilities = capabilities }

    /// The space as the driver reads it now.
    func bytes() -> [UInt8] {
        let s = selection.withLock { $0 }
        let payload = answer(select: s.select, subsel: s.subsel)
        var out = [UInt8](repeating: 0, count: Self.length)
        out[0] = s.select
        out[1] = s.subsel
        out[2] = UInt8(payload.count)
        out.replaceSubrange(Self.unionOffset..<Self.unionOffset + payload.count, with: payload)
        return out
    }

    /// A driver write: bytes for `select` (offset 0) and `subsel` (offset 1) take effect, the
    /// rest is read-only and ignored.
    func write(offset: Int, bytes: [UInt8]) {
        selection.withLock { s in
            for (i, byte) in bytes.enumerated() {
                switch offset + i {
                case 0: s.select = byte
                case 1: s.subsel = byte
                default: break
                }
            }
        }
    }

    /// `select` and `subsel` as the driver last wrote them.
    var selected: (select: UInt8, subsel: UInt8) { selection.withLock { ($0.select, $0.subsel) } }

    /// Sets `select` and `subsel` (a restore).
    func select(_ select: UInt8, subsel: UInt8) { selection.withLock { $0 = Selection(select: select, subsel: subsel) } }

    /// Back to `select` = `subsel` = 0 (device reset, §2.4).
    func reset() { selection.withLock { $0 = Selection() } }

    /// The union's contents for `select`/`subsel`, at most ``unionLength`` bytes; its count
    /// is `size`. Selections with a subsel the spec fixes at zero answer only for zero, as in
    /// QEMU, which matches both fields exactly.
    func answer(select: UInt8, subsel: UInt8) -> [UInt8] {
        let c = capabilities
        let payload: [UInt8]
        switch VirtioInputConfigSelect(rawValue: select) {
        case .idName where subsel == 0:
            payload = Array(c.name.utf8)
        case .idSerial where subsel == 0:
            payload = c.serial.map { Array($0.utf8) } ?? []
        case .idDevids where subsel == 0:
            payload = [c.ids.bustype, c.ids.vendor, c.ids.product, c.ids.version].flatMap(Self.littleEndian)
        case .evBits:
            payload = c.eventCodes[UInt16(subsel)] ?? []
        case .absInfo:
            if let a = c.axes[UInt16(subsel)] {
                payload = [a.minimum, a.maximum, a.fuzz, a.flat, a.resolution].flatMap(Self.littleEndian)
            } else {
                payload = []
            }
        case .propBits, .unset, .idName, .idSerial, .idDevids, nil:
            // No input properties (INPUT_PROP_*): QEMU's keyboard, mouse and tablet set none.
            payload = []
        }
        return Array(payload.prefix(Self.unionLength))
    }

    private static func littleEndian(_ v: UInt16) -> [UInt8] {
        [UInt8(truncatingIfNeeded: v), UInt8(truncatingIfNeeded: v >> 8)]
    }

    private static func littleEndian(_ v: Int32) -> [UInt8] {
        let u = UInt32(bitPattern: v)
        return (0..<4).map { UInt8(truncatingIfNeeded: u >> (8 * $0)) }
    }
}
