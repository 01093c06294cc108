/// virtio-console constants (virtio 1.2 §5.3).
public enum VirtioConsoleFeature {
    /// `VIRTIO_CONSOLE_F_SIZE`: `cols`/`rows` are valid.
    public static let size: UInt64 = 1 << 0
    /// `VIRTIO_CONSOLE_F_MULTIPORT`: control queues and `max_nr_ports`.
    public static let multiport: UInt64 = 1 << 1
    /// `VIRTIO_CONSOLE_F_EMERG_WRITE`: `emerg_wr` is valid.
    public static let emergencyWrite: UInt64 = 1 << 2
}

/// Queue indices (§5.3.2): port 0's pair, then the control pair.
enum ConsoleQueue {
    static let receive = 0
    static let transmit = 1
    static let controlReceive = 2
    static let controlTransmit = 3
}

/// `struct virtio_console_control` and its events (§5.3.6.2).
struct ConsoleControlMessage: Equatable {
    var id: UInt32
    var event: Event
    var value: UInt16
    /// Bytes that follow the header (a port name, a resize).
    var payload: [UInt8] = []

    enum Event: UInt16 {
        case deviceReady = 0
        case deviceAdd = 1
        case deviceRemove = 2
        case portReady = 3
        case consolePort = 4
        case resize = 5
        case portOpen = 6
        case portName = 7
    }

    static let headerSize = 8

    var bytes: [UInt8] {
        var out: [UInt8] = []
        withUnsafeBytes(of: id.littleEndian) { out += $0 }
        withUnsafeBytes(of: event.rawValue.littleEndian) { out += $0 }
        withUnsafeBytes(of: value.littleEndian) { out += $0 }
        return out + payload
    }

    /// Parses a driver message; `nil` when it is short or the event unknown.
    init?(_ bytes: [UInt8]) {
        guard bytes.count >= Self.headerSize else { return nil }
        func u16(_ o: Int) -> UInt16 { UInt16(bytes[o]) | UInt16(bytes[o + 1]) << 8 }
        guard let event = Event(rawValue: u16(4)) else { return nil }
        self.id = UInt32(u16(0)) | UInt32(u16(2)) << 16
        self.event = event
        self.value = u16(6)
        self.payload = Array(bytes[Self.headerSize...])
    }

    init(id: UInt32, event: Event, value: UInt16, payload: [UInt8] = []) {
        self.id = id
        self.event = event
        self.value = value
        self.payload = payload
    }

    /// `VIRTIO_CONSOLE_RESIZE` with `struct virtio_console_resize { le16 cols; le16 rows; }`
    /// as the specification orders it. (Linux read rows first until 2025; QEMU never sends
    /// this message. Without multiport the config-space size is used instead.)
    static func resize(port: UInt32, _ size: ConsoleSize) -> ConsoleControlMessage {
        var payload: [UInt8] = []
        withUnsafeBytes(of: size.columns.littleEndian) { payload += $0 }
        withUnsafeBytes(of: size.rows.littleEndian) { payload += $0 }
        return ConsoleControlMessage(id: port, event: .resize, value: 0, payload: payload)
    }
}
